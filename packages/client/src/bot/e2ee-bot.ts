/**
 * An E2EE room member for bots (no WebRTC, no Worker, no IndexedDB). It takes part in the key
 * protocol exactly like a browser — the same `KeyManager` (keys.ts) driven by RoomState and
 * `sotto.e2ee` data packets — as a listener, and on stage (a moderator that created the room, or
 * a listener that accepted a speak invitation) as a stage MLS member: KeyPackage, Welcome, and
 * the exporter's SFrame key under its own leaf. Received RTP payloads are opened with the same
 * `FrameCrypto` (SFrame) and `SpeakerGate` (speaker signatures) the browser's frame worker uses.
 *
 * Speaking (`speak`): PCM (a tone, or the caller's) is Opus-encoded every 20 ms (opus.ts, Node
 * only, loaded on first use), SFrame-encrypted whole and signed once a second by the same
 * `SignedFrameSender` the browser's worker uses, then handed to the transport as an RTP payload;
 * signatures go out as data packets (`SPEAKER_SIG_TOPIC`). Off stage nothing is sent; moved back
 * to the audience, the KeyManager drops the send key and the MLS state like a browser does.
 *
 * The media transport is the caller's (e.g. a node-datachannel LiveKit participant): it connects
 * to `mediaUrl` with `mediaToken`, hands `start` a way to publish data packets (and, to speak, to
 * send audio payloads: publish the microphone track when `onStage` turns true), and feeds back
 * every data packet (`receiveData`) and every audio RTP payload (`decrypt`). Logs name the bot
 * by its pseudonymous media handle only.
 */
import type { JoinRoomResponse, RoomState } from '@sotto/app/api';
import type { CreateRoomInput, SottoApi } from '../api.ts';
import { toB64u } from '../e2ee/b64.ts';
import { FrameCrypto, type FrameCryptoStats } from '../e2ee/frame-crypto.ts';
import { SignedFrameSender } from '../e2ee/frame-sender.ts';
import { E2EE_TOPIC, type EpochInfo, KeyManager, type LocalDevice, SPEAKER_SIG_TOPIC } from '../e2ee/keys.ts';
import { SpeakerGate } from '../e2ee/speaker-gate.ts';
import { createDeviceFile, type DeviceFile, deviceFromFile } from './device.ts';
import { BotError } from './errors.ts';
import { type OpusEncoderOptions, OpusFrameEncoder } from './opus.ts';
import type { PcmSource } from './pcm.ts';
import { BotSpeech, type SpeechOptions, type SpeechStats } from './speech.ts';

export interface BotDataTransport {
  /** Sends a reliable data packet on `topic` to these media identities (empty: everyone). */
  publish(payload: Uint8Array, to: string[], topic: string): void;
  /**
   * Sends one audio RTP payload (an SFrame frame) on the published microphone track; false when
   * it cannot (no track published yet). Needed only to speak.
   */
  sendAudio?(payload: Uint8Array): boolean;
}

export interface SpeakOptions extends SpeechOptions {
  /** Opus settings (default: 32 kbit/s, VBR — CBR in hardened rooms, as browsers send there). */
  opus?: OpusEncoderOptions;
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
  /** A moderator or speaker in the app's RoomState. */
  onStage: boolean;
  /** In the stage's MLS group (on stage, once the Welcome arrived or the group was created). */
  inStageGroup: boolean;
  isKeyHolder: boolean;
  /** Our MLS leaf (the KID's sender leaf) in the current generation; null off the stage group. */
  leaf: number | null;
  /** Room security code of the current MLS epoch (stage members), else null. */
  securityCode: string | null;
  /** Our MLS operations (create, commit, process, join) and their wall time. */
  mlsTimings: { what: string; ms: number }[];
  /** What was sent: payloads the transport took, payloads it refused, signature messages. */
  sending: { sent: number; refused: number; signatures: number; speech: SpeechStats | null };
}

export class E2eeBot {
  readonly #api: SottoApi;
  readonly roomId: string;
  readonly device: LocalDevice;
  readonly join: JoinRoomResponse;
  readonly #options: E2eeBotOptions;
  readonly frames = new FrameCrypto();
  readonly #gate: SpeakerGate;
  readonly #sender: SignedFrameSender;
  #transport: BotDataTransport | null = null;
  #speech: BotSpeech | null = null;
  #speechStarting = false;
  #sent = 0;
  #refused = 0;
  #keys: KeyManager | null = null;
  #poll: ReturnType<typeof setInterval> | null = null;
  #closed = false;
  /** Data packets that arrived before `start` (e.g. a key with its KEK): replayed by `start`. */
  #early: [Uint8Array, string | undefined, string | undefined][] = [];
  /** The latest RoomState applied. */
  state: RoomState;
  onEpoch: ((e: EpochInfo) => void) | null = null;
  /**
   * Called when the bot comes on stage (true: publish the microphone track, then frames flow) or
   * goes back to the audience (false: the media node has already unpublished the track). At
   * join, `onStage` tells whether to publish at once (a moderator).
   */
  onStageChange: ((onStage: boolean) => void) | null = null;

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
    // speaker signatures are bound to the room, as the browser's are (RoomE2ee.start)
    const context = new TextEncoder().encode(`sotto room ${roomId}`);
    this.#gate = new SpeakerGate({ context });
    this.#sender = new SignedFrameSender(this.frames, {
      onSignatures: (messages) => {
        for (const m of messages) this.#transport?.publish(m, [], SPEAKER_SIG_TOPIC);
      },
      onError: (err) => this.#log(`speaker signature failed: ${String(err)}`),
    });
    this.#sender.setSigner(device.signingKey, { context });
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

  /** Creates a room (`POST /api/rooms`) and joins it as its moderator (see `joinRoom`). */
  static async createRoom(
    api: SottoApi,
    room: CreateRoomInput,
    options: E2eeBotOptions = {},
  ): Promise<E2eeBot> {
    const created = await api.createRoom(room);
    return E2eeBot.joinRoom(api, created.id, options);
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

  /** A moderator or speaker (per the latest RoomState): may publish audio. */
  get onStage(): boolean {
    const role = this.state.me?.role;
    return role === 'moderator' || role === 'speaker';
  }

  /** The media connection is up: start the key protocol and follow RoomState. */
  start(transport: BotDataTransport): void {
    if (this.#keys || this.#closed) throw new BotError('bad_state', 'E2eeBot already started');
    this.#transport = transport;
    this.#sender.start();
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
      this.#log(`room state: ${String(err)}`);
    }
  }

  /** Applies a RoomState (e.g. from the SSE stream, if the caller follows it). */
  applyState(state: RoomState): void {
    if (this.#closed || state.version < this.state.version) return;
    const was = this.onStage;
    this.state = state;
    this.#keys?.updateState(state);
    const now = this.onStage;
    if (now === was) return;
    this.#log(now ? 'on stage' : 'back in the audience: no more audio');
    // sign what was sent before leaving the stage (the KeyManager drops the send key)
    if (!now) void this.#sender.flush();
    this.onStageChange?.(now);
  }

  /** Raises (or lowers) the bot's hand. */
  async raiseHand(raised = true): Promise<void> {
    this.applyState(await this.#api.setHand(this.roomId, raised));
  }

  /** Answers a moderator's invitation to speak (`state.me.invitedToSpeak`). */
  async answerInvitation(accept: boolean): Promise<void> {
    this.applyState(await this.#api.answerInvitation(this.roomId, accept));
  }

  /**
   * Speaks `source` in real time (20 ms Opus frames, SFrame-encrypted and signed) whenever the
   * bot is on stage, until the source ends or `stop()`. Needs `start` with a transport that has
   * `sendAudio`. Resolves once the encoder is ready; `finished` tells how the speech ended.
   */
  async speak(source: PcmSource, options: SpeakOptions = {}): Promise<BotSpeech> {
    const transport = this.#transport;
    if (!transport || this.#closed) throw new BotError('bad_state', 'speak() needs start() first');
    if (!transport.sendAudio) throw new BotError('no_audio_transport', 'the transport has no sendAudio');
    if (this.#speech?.speaking || this.#speechStarting)
      throw new BotError('already_speaking', 'the bot is already speaking');
    this.#speechStarting = true;
    let encoder: OpusFrameEncoder;
    try {
      encoder = await OpusFrameEncoder.create({ cbr: this.state.hardened, ...options.opus });
    } finally {
      this.#speechStarting = false;
    }
    if (this.#closed) {
      encoder.close();
      throw new BotError('bad_state', 'the bot was closed');
    }
    const speech = new BotSpeech({
      source,
      encoder,
      active: () => this.onStage && !this.#closed,
      send: (opus) => this.#sendFrame(opus),
      onFrame: options.onFrame,
      log: (m) => this.#log(m),
    });
    this.#speech = speech;
    return speech;
  }

  /** One Opus frame: SFrame-encrypted (dropped without a send key), signed, sent. */
  async #sendFrame(opus: Uint8Array): Promise<void> {
    const out = await this.#sender.encrypt(opus);
    if (!out || !this.onStage || this.#closed) return;
    if (this.#transport?.sendAudio?.(out)) this.#sent++;
    else this.#refused++;
  }

  #log(msg: string): void {
    this.#options.log?.(`e2ee bot ${this.handle}: ${msg}`);
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
    const keys = this.#keys;
    return {
      ...this.frames.stats,
      dropped: { ...this.frames.stats.dropped },
      generation: keys?.generation ?? null,
      speakers: { ...this.#gate.stats },
      onStage: this.onStage,
      inStageGroup: keys?.inStageGroup ?? false,
      isKeyHolder: keys?.isHolder ?? false,
      leaf: this.#ownLeaf(),
      securityCode: keys?.securityCode ?? null,
      mlsTimings: keys ? [...keys.mlsTimings] : [],
      sending: {
        sent: this.#sent,
        refused: this.#refused,
        signatures: this.#sender.signatures,
        speech: this.#speech?.stats ?? null,
      },
    };
  }

  #ownLeaf(): number | null {
    const keys = this.#keys;
    const gen = keys?.generation;
    if (!keys?.inStageGroup || gen == null) return null;
    const mine = this.device.signingPublicKey;
    for (const [leaf, key] of keys.rosters.get(gen) ?? [])
      if (key.length === mine.length && key.every((b, i) => b === mine[i])) return leaf;
    return null;
  }

  /** Stops key management, forgets the keys and leaves the room. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll) clearInterval(this.#poll);
    this.#speech?.stop();
    this.#sender.stop();
    this.#keys?.close();
    this.frames.clear();
    await this.#api.leaveRoom(this.roomId, true).catch(() => undefined);
  }
}
