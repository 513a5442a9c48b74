/**
 * End-to-end encrypted audio for a RoomSession (browser only): the device identity (IndexedDB,
 * published to the app server's key directory), the frame worker (`RTCRtpScriptTransform` on the
 * mic sender and every remote audio receiver) and the KeyManager (keys over LiveKit data packets,
 * topic `sotto.e2ee`). The media node sees only SFrame ciphertext and wrapped keys.
 */
import type { RoomState } from '@sotto/app/api';
import type { SottoApi } from '../api.ts';
import { toB64u } from './b64.ts';
import type { FrameCryptoStats } from './frame-crypto.ts';
import { loadOrCreateDevice, type PublishedDevice } from './identity.ts';
import { E2EE_TOPIC, KeyManager } from './keys.ts';
import type { FromWorker, ToWorker } from './messages.ts';

export { FrameCrypto, type FrameCryptoStats, type SendKey } from './frame-crypto.ts';
export {
  E2EE_TOPIC,
  type FrameKeySink,
  KeyManager,
  type KeyManagerOptions,
  type LocalDevice,
} from './keys.ts';

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
  /** Key schedule timings (defaults: leave batch 30 s, refresh 5 min, grace 10 s). */
  leaveBatchMs?: number;
  refreshMs?: number;
  graceMs?: number;
}

export interface E2eeStats extends FrameCryptoStats {
  generation: number | null;
  isKeyHolder: boolean;
  /** performance.timeOrigin-based ms of the first frame decrypted, and of the first key held. */
  firstDecryptAt: number | null;
  firstKeyAt: number | null;
}

/** The subset of livekit-client's Room this needs (kept structural, so room.ts owns livekit-client). */
export interface E2eeTransport {
  publish(payload: Uint8Array, to: string[]): void;
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
  #statsId = 0;
  readonly #statsWaiters = new Map<number, (s: E2eeStats) => void>();

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
    const post = (m: ToWorker) => worker.postMessage(m);
    worker.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.t === 'missing') this.#keys?.missingKey(m.generation);
      else if (m.t === 'log') log(m.msg);
      else if (m.t === 'plain') this.#options.capturePlaintext?.(m.frame);
      else if (m.t === 'stats') {
        const keys = this.#keys;
        this.#statsWaiters.get(m.id)?.({
          ...m.stats,
          firstDecryptAt: m.firstDecryptAt,
          generation: keys?.generation ?? null,
          isKeyHolder: keys?.isHolder ?? false,
          firstKeyAt: keys?.firstKeyAt == null ? null : performance.timeOrigin + keys.firstKeyAt,
        });
        this.#statsWaiters.delete(m.id);
      }
    };
    if (this.#options.capturePlaintext) post({ t: 'capture', on: true });
    if (this.#options.passthroughForTest) post({ t: 'passthrough' });
    this.#keys = new KeyManager({
      roomId: this.#roomId,
      handle,
      device,
      send: (payload, to) => transport.publish(payload, to),
      sink: {
        setBaseKey: (generation, step, key) =>
          post({ t: 'base', generation, step, key: Uint8Array.from(key) }),
        setSendKey: (key) => post({ t: 'send', key }),
        forgetBefore: (generation, step) =>
          post({ t: 'forget', generation, ...(step === undefined ? {} : { step }) }),
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
    this.#keys?.updateState(state);
  }

  receive(payload: Uint8Array, fromHandle: string | undefined, topic: string | undefined): void {
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
    this.#worker?.postMessage({ t: 'clear' } satisfies ToWorker);
    this.#worker?.terminate();
    this.#worker = null;
  }
}
