/**
 * End-to-end encrypted audio for a RoomSession (browser only): the device identity (IndexedDB,
 * published to the app server's key directory), the frame worker (`RTCRtpScriptTransform` on the
 * mic sender and every remote audio receiver) and the KeyManager (keys over LiveKit data packets,
 * topic `sotto.e2ee`). The media node sees only SFrame ciphertext and wrapped keys.
 */
import type { RoomState } from '@sotto/app/api';
import type { TofuVerdict } from '@sotto/e2ee';
import type { SottoApi } from '../api.ts';
import { fromB64u, toB64u } from './b64.ts';
import type { FrameCryptoStats } from './frame-crypto.ts';
import { loadOrCreateDevice, type PublishedDevice } from './identity.ts';
import { E2EE_TOPIC, type EpochInfo, KeyManager, SPEAKER_SIG_TOPIC } from './keys.ts';
import { LEVEL_TOPIC, LevelChannel, type LevelReading, type LevelStats } from './levels.ts';
import type { FromWorker, SpeakerGateStats, ToWorker } from './messages.ts';
import { deviceIdentity, tofuStore } from './verify.ts';

export { FrameCrypto, type FrameCryptoStats, type SendKey } from './frame-crypto.ts';
export {
  E2EE_TOPIC,
  type EpochInfo,
  type FrameKeySink,
  KeyManager,
  type KeyManagerOptions,
  type LocalDevice,
  SPEAKER_SIG_TOPIC,
  type StageRosters,
} from './keys.ts';
export {
  LEVEL_INTERVAL_MS,
  LEVEL_STALE_MS,
  LEVEL_TOPIC,
  LevelChannel,
  type LevelReading,
  type LevelStats,
} from './levels.ts';
export { type ContactDevice, contactDevices, trustContactDevice } from './verify.ts';

export interface E2eeOptions {
  /** Default true. false: no frame encryption at all (only for tests and diagnostics). */
  enabled?: boolean;
  /**
   * Test-only: receives every plaintext Opus frame this sender produces, before encryption (the
   * media-node canary compares them with what the node forwards). Never set it in the product.
   */
  capturePlaintext?: (frame: Uint8Array) => void;
  /**
   * Test-only negative control: the transform is installed and captures as above, but frames go
   * out and come in unmodified (no encryption). Never set it in the product.
   */
  passthroughForTest?: boolean;
  /** Test-only: ignore every key message (a member that never gets keys). */
  dropKeyMessagesForTest?: boolean;
  /** Test-only negative control: play every decrypted frame, signed by a stage member or not. */
  skipSpeakerVerificationForTest?: boolean;
  /**
   * Test-only: allow `forgeFramesForTest` and `tryDecryptForTest` (what a member holding the keys
   * could do with them).
   */
  forgeryForTest?: boolean;
  /** Test-only: keep the frame keys after leaving (a removed member that does not delete them). */
  retainKeysForTest?: boolean;
  /** Key schedule timings (defaults: leave batch 30 s, refresh 5 min, grace 10 s). */
  leaveBatchMs?: number;
  refreshMs?: number;
  graceMs?: number;
}

export interface E2eeStats extends FrameCryptoStats {
  /** Speaker authenticity on the receive path: frames verified / muted, forgeries, bad signatures. */
  speakers: SpeakerGateStats;
  /** Encrypted speaking levels (hardened rooms): sent, received, rejected by reason. */
  levels: LevelStats;
  generation: number | null;
  /** Generations the frame worker holds keys for (can outlive `generation`, e.g. after leaving). */
  keyGenerations: number[];
  isKeyHolder: boolean;
  /** In the stage's MLS group (moderators and speakers, once their Welcome arrived). */
  inStageGroup: boolean;
  /** Room security code of the current MLS epoch (stage members; null for listeners). */
  securityCode: string | null;
  /** MLS operations this session ran (create, commit, process, join) with their wall time. */
  mlsTimings: { what: string; ms: number }[];
  /** performance.timeOrigin-based ms of the first frame decrypted, and of the first key held. */
  firstDecryptAt: number | null;
  firstKeyAt: number | null;
}

/** The subset of livekit-client's Room this needs (kept structural, so room.ts owns livekit-client). */
export interface E2eeTransport {
  /** `to` empty: everyone in the room; `lossy`: the unreliable channel (a loss does no harm). */
  publish(payload: Uint8Array, to: string[], topic: string, lossy?: boolean): void;
}

/**
 * Chromium: encoded insertable streams (`createEncodedStreams`, with the peer connection's
 * `encodedInsertableStreams` flag). It is fail-closed — a sender or receiver sends/plays nothing
 * until its streams are piped — and works when attached after livekit-client has negotiated,
 * whereas Chromium 156 silently ignores an `RTCRtpScriptTransform` set on an audio sender or
 * receiver that is already running (media then flows untransformed). Elsewhere (Firefox,
 * Safari) `RTCRtpScriptTransform`, set as soon as livekit-client hands us the sender/receiver.
 */
function useInsertableStreams(): boolean {
  return typeof RTCRtpSender !== 'undefined' && 'createEncodedStreams' in RTCRtpSender.prototype;
}

export function e2eeSupported(): boolean {
  return (
    typeof Worker === 'function' &&
    (useInsertableStreams() || typeof globalThis.RTCRtpScriptTransform === 'function')
  );
}

/** Extra RTCConfiguration for the peer connection when E2EE is on. */
export function e2eeRtcConfig(): RTCConfiguration {
  return useInsertableStreams() ? ({ encodedInsertableStreams: true } as RTCConfiguration) : {};
}

interface EncodedStreams {
  readable: ReadableStream;
  writable: WritableStream;
}
type WithEncodedStreams = { createEncodedStreams(): EncodedStreams };

export class RoomE2ee {
  readonly #api: SottoApi;
  readonly #roomId: string;
  readonly #options: E2eeOptions;
  #device: PublishedDevice | null = null;
  #worker: Worker | null = null;
  #keys: KeyManager | null = null;
  #levels: LevelChannel | null = null;
  #transport: E2eeTransport | null = null;
  /** Signing keys of the devices stage members announced, by media handle (for levels). */
  #stageDeviceKeys = new Map<string, Uint8Array>();
  #statsId = 0;
  readonly #statsWaiters = new Map<number, (s: E2eeStats) => void>();
  readonly #forgeWaiters = new Map<number, (frames: Uint8Array[] | null) => void>();
  readonly #tryWaiters = new Map<number, (opened: number) => void>();

  constructor(api: SottoApi, roomId: string, options: E2eeOptions) {
    this.#api = api;
    this.#roomId = roomId;
    this.#options = options;
  }

  /** Loads (or creates) this browser's device for the signed-in user and publishes its keys. */
  async prepare(): Promise<string> {
    const me = await this.#api.me();
    const device = await loadOrCreateDevice(me.user.id);
    await this.#api.publishDevice({
      deviceId: device.deviceId,
      signingPublicKey: toB64u(device.signingPublicKey),
      hpkePublicKey: toB64u(device.hpkePublicKey),
    });
    this.#device = device;
    return device.deviceId;
  }

  /** Starts the worker and key management once the media handle is known. */
  start(handle: string, transport: E2eeTransport, log: (msg: string) => void): void {
    const device = this.#device;
    if (!device) throw new Error('RoomE2ee.prepare() first');
    const worker = new Worker(new URL('./worker.ts', import.meta.url), {
      type: 'module',
      name: 'sotto-e2ee',
    });
    this.#worker = worker;
    this.#transport = transport;
    const post = (m: ToWorker) => worker.postMessage(m);
    const levels = new LevelChannel(
      () => this.#keys?.rosters ?? new Map(),
      (h) => this.#stageDeviceKeys.get(h),
    );
    this.#levels = levels;
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === 'missing') this.#keys?.missingKey(m.generation);
      else if (m.t === 'sig') transport.publish(m.message, [], SPEAKER_SIG_TOPIC);
      else if (m.t === 'tried') {
        this.#tryWaiters.get(m.id)?.(m.opened);
        this.#tryWaiters.delete(m.id);
      } else if (m.t === 'forged') {
        this.#forgeWaiters.get(m.id)?.(m.frames);
        this.#forgeWaiters.delete(m.id);
      } else if (m.t === 'log') log(m.msg);
      else if (m.t === 'plain') this.#options.capturePlaintext?.(m.frame);
      else if (m.t === 'stats') {
        const keys = this.#keys;
        this.#statsWaiters.get(m.id)?.({
          ...m.stats,
          speakers: m.speakers,
          levels: structuredClone(levels.stats),
          firstDecryptAt: m.firstDecryptAt,
          generation: keys?.generation ?? null,
          keyGenerations: m.keyGenerations,
          isKeyHolder: keys?.isHolder ?? false,
          inStageGroup: keys?.inStageGroup ?? false,
          securityCode: keys?.securityCode ?? null,
          mlsTimings: keys ? [...keys.mlsTimings] : [],
          firstKeyAt: keys?.firstKeyAt == null ? null : performance.timeOrigin + keys.firstKeyAt,
        });
        this.#statsWaiters.delete(m.id);
      }
    };
    if (this.#options.capturePlaintext) post({ t: 'capture', on: true });
    if (this.#options.passthroughForTest) post({ t: 'passthrough' });
    if (this.#options.skipSpeakerVerificationForTest) post({ t: 'noverify' });
    // speaker authenticity: sign what we send with the device key, bound to this room
    post({
      t: 'signer',
      key: device.signingKey,
      context: new TextEncoder().encode(`sotto room ${this.#roomId}`),
    });
    this.#keys = new KeyManager({
      roomId: this.#roomId,
      handle,
      device,
      send: (payload, to) => transport.publish(payload, to, E2EE_TOPIC),
      onEpoch: (e) => {
        post({ t: 'roster', generation: e.generation, entries: [...e.roster] });
        this.onEpoch?.(e);
      },
      // the frame worker's keys, and the same keys (expanded for their own use) for levels
      sink: {
        setBaseKey: (generation, step, key) => {
          post({ t: 'base', generation, step, key: Uint8Array.from(key) });
          levels.setBaseKey(generation, step, key);
        },
        setSendKey: (key) => {
          post({ t: 'send', key });
          levels.setSendKey(key);
        },
        clearSendKey: () => {
          post({ t: 'nosend' });
          levels.clearSendKey();
        },
        forgetBefore: (generation, step) => {
          post({ t: 'forget', generation, ...(step === undefined ? {} : { step }) });
          levels.forgetBefore(generation, step);
        },
      },
      ...(this.#options.leaveBatchMs === undefined ? {} : { leaveBatchMs: this.#options.leaveBatchMs }),
      ...(this.#options.refreshMs === undefined ? {} : { refreshMs: this.#options.refreshMs }),
      ...(this.#options.graceMs === undefined ? {} : { graceMs: this.#options.graceMs }),
      log,
    });
  }

  /** Media connected: data packets reach us, so key delivery can start. */
  connected(): void {
    this.#keys?.connected();
  }

  updateState(state: RoomState): void {
    this.#stageDeviceKeys = new Map(
      state.stage.flatMap((m) =>
        m.device ? [[m.handle, fromB64u(m.device.signingPublicKey)] as const] : [],
      ),
    );
    this.#keys?.updateState(state);
  }

  /**
   * Hardened rooms: sends our microphone level, encrypted (see levels.ts); nothing without a
   * send key. Call it at a fixed rate (LEVEL_INTERVAL_MS) whether or not we speak.
   */
  async sendLevel(reading: LevelReading): Promise<void> {
    const sealed = await this.#levels?.seal(reading);
    if (sealed) this.#transport?.publish(sealed, [], LEVEL_TOPIC, true);
  }

  /** A stage member's level (hardened rooms), from an authenticated level message. */
  onLevel: ((handle: string, reading: LevelReading) => void) | null = null;

  /** Called with each new epoch (security code for stage members). */
  onEpoch: ((e: EpochInfo) => void) | null = null;

  get retainsKeysForTest(): boolean {
    return this.#options.retainKeysForTest === true;
  }

  /** Devices in the stage's MLS group (empty unless we are in it). */
  get stageDevices(): { userId: string; deviceId: string }[] {
    return this.#keys?.stageDevices ?? [];
  }

  readonly #tofuChecked = new Map<string, TofuVerdict>();
  /**
   * Trust on first use for every member's device in a RoomState (each device checked once per
   * session): the user ids whose device keys differ from those first seen on this browser.
   */
  async keyChanges(state: RoomState): Promise<Set<string>> {
    const changed = new Set<string>();
    const myId = state.me?.user.id;
    for (const m of [...state.stage, ...state.audience]) {
      if (!m.device || m.user.id === myId) continue;
      const id = deviceIdentity(m.user.id, m.device);
      const k = `${m.user.id}/${m.device.id}/${m.device.signingPublicKey}/${m.device.hpkePublicKey}`;
      let v = this.#tofuChecked.get(k);
      if (!v) {
        v = await tofuStore().check(id);
        this.#tofuChecked.set(k, v);
      }
      if (v === 'changed') changed.add(m.user.id);
    }
    return changed;
  }

  /**
   * Test-only (`forgeryForTest`): encrypts `frames` under `kid` from counter `firstCtr` with the
   * keys this member holds — a listener forging a speaker's audio.
   */
  forgeFramesForTest(kid: bigint, firstCtr: bigint, frames: Uint8Array[]): Promise<Uint8Array[] | null> {
    const worker = this.#worker;
    if (!worker || !this.#options.forgeryForTest) return Promise.resolve(null);
    const id = ++this.#statsId;
    return new Promise((resolve) => {
      this.#forgeWaiters.set(id, resolve);
      worker.postMessage({
        t: 'forge',
        id,
        kid: kid.toString(),
        firstCtr: firstCtr.toString(),
        frames,
      } satisfies ToWorker);
    });
  }

  /** Test-only (`forgeryForTest`): how many of `frames` our current keys open (replay ignored). */
  tryDecryptForTest(frames: Uint8Array[]): Promise<number | null> {
    const worker = this.#worker;
    if (!worker || !this.#options.forgeryForTest) return Promise.resolve(null);
    const id = ++this.#statsId;
    return new Promise((resolve) => {
      this.#tryWaiters.set(id, resolve);
      worker.postMessage({ t: 'trydecrypt', id, frames } satisfies ToWorker);
    });
  }

  receive(payload: Uint8Array, fromHandle: string | undefined, topic: string | undefined): void {
    if (topic === LEVEL_TOPIC) {
      const levels = this.#levels;
      void levels?.open(payload, fromHandle).then((r) => {
        if (r && fromHandle && this.#levels === levels) this.onLevel?.(fromHandle, r);
      });
      return;
    }
    if (topic === SPEAKER_SIG_TOPIC) {
      this.#worker?.postMessage({ t: 'sig', message: Uint8Array.from(payload) } satisfies ToWorker);
      return;
    }
    if (topic === E2EE_TOPIC && !this.#options.dropKeyMessagesForTest)
      this.#keys?.receive(payload, fromHandle);
  }

  rekeyNow(): void {
    this.#keys?.rekeyNow();
  }

  /** Encrypts what this RTCRtpSender sends. */
  protectSender(sender: RTCRtpSender): void {
    this.#protect(sender, 'encrypt');
  }

  /** Decrypts what this RTCRtpReceiver receives (undecryptable frames are dropped). */
  protectReceiver(receiver: RTCRtpReceiver): void {
    this.#protect(receiver, 'decrypt');
  }

  readonly #protected = new WeakSet<RTCRtpSender | RTCRtpReceiver>();

  #protect(endpoint: RTCRtpSender | RTCRtpReceiver, operation: 'encrypt' | 'decrypt'): void {
    const worker = this.#worker;
    // a recycled transceiver keeps its pipeline: streams can be created only once
    if (!worker || this.#protected.has(endpoint)) return;
    this.#protected.add(endpoint);
    if (useInsertableStreams()) {
      const { readable, writable } = (endpoint as unknown as WithEncodedStreams).createEncodedStreams();
      worker.postMessage({ t: 'streams', operation, readable, writable } satisfies ToWorker, [
        readable,
        writable,
      ]);
    } else {
      endpoint.transform = new RTCRtpScriptTransform(worker, { operation });
    }
  }

  stats(): Promise<E2eeStats | null> {
    const worker = this.#worker;
    if (!worker) return Promise.resolve(null);
    const id = ++this.#statsId;
    return new Promise((resolve) => {
      this.#statsWaiters.set(id, resolve);
      worker.postMessage({ t: 'stats', id } satisfies ToWorker);
    });
  }

  close(): void {
    this.#keys?.close();
    this.#keys = null;
    this.#levels?.clear();
    this.#levels = null;
    this.#transport = null;
    if (this.#options.retainKeysForTest) return; // test-only: a member that keeps its keys
    this.#worker?.postMessage({ t: 'clear' } satisfies ToWorker);
    this.#worker?.terminate();
    this.#worker = null;
  }
}
