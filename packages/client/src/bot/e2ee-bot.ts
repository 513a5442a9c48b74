/**
 * An E2EE room member for bots (isomorphic; no WebRTC, no Worker, no IndexedDB). It takes part in
 * the key protocol exactly like a browser listener — the same `KeyManager` (keys.ts) driven by
 * RoomState and `sotto.e2ee` data packets — and opens received RTP payloads with the same
 * `FrameCrypto` (SFrame) and `SpeakerGate` (speaker signatures) the browser's frame worker uses.
 *
 * The media transport is the caller's (e.g. a node-datachannel LiveKit participant): it connects
 * to `mediaUrl` with `mediaToken`, hands `start` a way to publish data packets, and feeds back
 * every data packet (`receiveData`) and every audio RTP payload (`decrypt`).
 */
import type { JoinRoomResponse, RoomState } from '@sotto/app/api';
import type { SottoApi } from '../api.ts';
import { toB64u } from '../e2ee/b64.ts';
import { FrameCrypto, type FrameCryptoStats } from '../e2ee/frame-crypto.ts';
import { E2EE_TOPIC, type EpochInfo, KeyManager, type LocalDevice, SPEAKER_SIG_TOPIC } from '../e2ee/keys.ts';
import { SpeakerGate } from '../e2ee/speaker-gate.ts';
import { createDeviceFile, type DeviceFile, deviceFromFile } from './device.ts';

export interface BotDataTransport {
  /** Sends a reliable data packet on `topic` to these media identities (empty: everyone). */
  publish(payload: Uint8Array, to: string[], topic: string): void;
}

export interface E2eeBotOptions {
  /** The device's key file (default: a new in-memory device). */
  device?: DeviceFile;
  /** How often RoomState is fetched (`GET /api/rooms/{id}`), ms (default 1000). */
  pollMs?: number;
  /** Play only frames signed by a current stage member, as browsers do (default true). */
  verifySpeakers?: boolean;
  log?: (msg: string) => void;
}

export interface E2eeBotStats extends FrameCryptoStats {
  generation: number | null;
  speakers: SpeakerGate['stats'];
}

export class E2eeBot {
  readonly #api: SottoApi;
  readonly roomId: string;
  readonly device: LocalDevice;
  readonly join: JoinRoomResponse;
  readonly #options: E2eeBotOptions;
  readonly frames = new FrameCrypto();
  readonly #gate: SpeakerGate;
  #keys: KeyManager | null = null;
  #poll: ReturnType<typeof setInterval> | null = null;
  #closed = false;
  /** Data packets that arrived before `start` (e.g. a key with its KEK): replayed by `start`. */
  #early: [Uint8Array, string | undefined, string | undefined][] = [];
  /** The latest RoomState applied. */
  state: RoomState;
  onEpoch: ((e: EpochInfo) => void) | null = null;

  private constructor(
    api: SottoApi,
    roomId: string,
    device: LocalDevice,
    join: JoinRoomResponse,
    o: E2eeBotOptions,
  ) {
    this.#api = api;
    this.roomId = roomId;
    this.device = device;
    this.join = join;
    this.state = join.state;
    this.#options = o;
    this.#gate = new SpeakerGate({ context: new TextEncoder().encode(`sotto room ${roomId}`) });
  }

  /**
   * Publishes the device to the key directory (`POST /api/devices`) and joins the room with it
   * (`POST /api/rooms/{id}/join`); `api` is signed in as the bot (API token or session).
   */
  static async joinRoom(api: SottoApi, roomId: string, options: E2eeBotOptions = {}): Promise<E2eeBot> {
    const me = await api.me();
    const device = await deviceFromFile(options.device ?? (await createDeviceFile()), me.user.id);
    await api.publishDevice({
      deviceId: device.deviceId,
      signingPublicKey: toB64u(device.signingPublicKey),
      hpkePublicKey: toB64u(device.hpkePublicKey),
    });
    const join = await api.joinRoom(roomId, device.deviceId);
    return new E2eeBot(api, roomId, device, join, options);
  }

  get handle(): string {
    return this.join.handle;
  }
  get mediaUrl(): string {
    return this.join.mediaUrl;
  }
  get mediaToken(): string {
    return this.join.mediaToken;
  }

  /** The media connection is up: start the key protocol and follow RoomState. */
  start(transport: BotDataTransport): void {
    if (this.#keys) throw new Error('E2eeBot already started');
    const frames = this.frames;
    frames.onMissingKey = (generation) => this.#keys?.missingKey(generation);
    const keys = new KeyManager({
      roomId: this.roomId,
      handle: this.handle,
      device: this.device,
      send: (payload, to) => transport.publish(payload, to, E2EE_TOPIC),
      onEpoch: (e) => {
        this.#gate.setRoster(e.generation, e.roster);
        this.onEpoch?.(e);
      },
      sink: {
        setBaseKey: (generation, step, key) => frames.setBaseKey(generation, step, key),
        setSendKey: (key) => void frames.setSendKey(key),
        clearSendKey: () => frames.clearSendKey(),
        forgetBefore: (generation, step) => frames.forgetBefore(generation, step),
      },
      ...(this.#options.log ? { log: this.#options.log } : {}),
    });
    this.#keys = keys;
    keys.updateState(this.state);
    keys.connected();
    for (const [payload, from, topic] of this.#early.splice(0)) this.receiveData(payload, from, topic);
    this.#poll = setInterval(() => void this.refreshState(), this.#options.pollMs ?? 1000);
  }

  /** Fetches RoomState now and applies it (also called on a timer). */
  async refreshState(): Promise<void> {
    try {
      this.applyState(await this.#api.room(this.roomId));
    } catch (err) {
      this.#options.log?.(`e2ee bot: room state: ${String(err)}`);
    }
  }

  /** Applies a RoomState (e.g. from the SSE stream, if the caller follows it). */
  applyState(state: RoomState): void {
    if (this.#closed) return;
    this.state = state;
    this.#keys?.updateState(state);
  }

  /** A data packet from the media node (`from`: the sender's media identity). */
  receiveData(payload: Uint8Array, from: string | undefined, topic: string | undefined): void {
    if (!this.#keys) {
      if (!this.#closed && this.#early.length < 100)
        this.#early.push([Uint8Array.from(payload), from, topic]);
      return;
    }
    if (topic === SPEAKER_SIG_TOPIC) void this.#gate.addSignature(Uint8Array.from(payload));
    else if (topic === E2EE_TOPIC) this.#keys?.receive(payload, from);
  }

  /**
   * Opens one received RTP payload (an SFrame-encrypted Opus frame): the Opus frame, or null when
   * it cannot be played (no key, replay, forgery, or not signed by a stage member).
   */
  async decrypt(payload: Uint8Array): Promise<Uint8Array | null> {
    const out = await this.frames.decrypt(payload);
    if (!out || out.length === 0) return null;
    if (this.#options.verifySpeakers !== false && !(await this.#gate.admit(payload))) {
      this.frames.stats.dropped.unsigned = (this.frames.stats.dropped.unsigned ?? 0) + 1;
      return null;
    }
    return out;
  }

  get stats(): E2eeBotStats {
    return {
      ...this.frames.stats,
      generation: this.#keys?.generation ?? null,
      speakers: { ...this.#gate.stats },
    };
  }

  /** Stops key management, forgets the keys and leaves the room. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    this.#keys?.close();
    this.frames.clear();
    await this.#api.leaveRoom(this.roomId, true).catch(() => undefined);
  }
}
