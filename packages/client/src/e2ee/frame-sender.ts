/**
 * The send half of a speaker's audio frames, shared by the browser's frame worker (worker.ts) and
 * Node bots (bot/e2ee-bot.ts), so both sign exactly the same way:
 *  - each outgoing Opus frame is SFrame-encrypted whole (`FrameCrypto`: no clear TOC byte; without
 *    a send key the frame is dropped, never sent in clear);
 *  - each encrypted frame's digest joins the speaker signature of the current second
 *    (`SpeakerSigner`, device Ed25519 key, bound to the room by `context`);
 *  - `tick` (called every 200 ms by `start`) signs the batch once its second is over and hands
 *    the message to `onSignatures`, to be published as a data packet on `SPEAKER_SIG_TOPIC`.
 * Receivers check those signatures with `SpeakerGate` and mute what no stage member signed.
 */
import { SpeakerSigner, type SpeakerSignerOptions } from '@sotto/e2ee';
import type { FrameCrypto } from './frame-crypto.ts';

export interface SignedFrameSenderOptions {
  /** A signature message to publish (topic SPEAKER_SIG_TOPIC, to everyone in the room). */
  onSignatures: (messages: Uint8Array[]) => void;
  /** Signing failed (should not happen with a valid key); the frames stay unsigned. */
  onError?: (err: unknown) => void;
}

/** How often `start` checks whether a signature is due. */
export const SIGNATURE_TICK_MS = 200;

export class SignedFrameSender {
  readonly frames: FrameCrypto;
  readonly #o: SignedFrameSenderOptions;
  #signer: SpeakerSigner | null = null;
  #timer: ReturnType<typeof setInterval> | null = null;
  /** Signature messages handed to `onSignatures`. */
  signatures = 0;

  constructor(frames: FrameCrypto, options: SignedFrameSenderOptions) {
    this.frames = frames;
    this.#o = options;
  }

  /** Signs what is sent from now on with this device key (`context`: the room, as receivers use). */
  setSigner(key: CryptoKey, options: SpeakerSignerOptions): void {
    this.#signer = new SpeakerSigner(key, options);
  }

  /** The frame SFrame-encrypted and recorded for this second's signature; null: drop it. */
  async encrypt(frame: Uint8Array): Promise<Uint8Array | null> {
    const out = await this.frames.encrypt(frame);
    // synchronously after the encryption, so the signer sees frames in send order
    if (out && this.#signer) void this.#signer.addFrame(out).then(this.#emit, this.#fail);
    return out;
  }

  /** Signs the open batch if its interval is over. */
  tick(): void {
    if (this.#signer?.due()) void this.#signer.flush().then(this.#emit, this.#fail);
  }

  /** Signs the open batch now (e.g. before stopping). */
  async flush(): Promise<void> {
    if (this.#signer) await this.#signer.flush().then(this.#emit, this.#fail);
  }

  /** Calls `tick` every SIGNATURE_TICK_MS until `stop`. */
  start(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.tick(), SIGNATURE_TICK_MS);
    // in Node, a bot's signature timer alone does not keep the process alive
    (this.#timer as { unref?: () => void }).unref?.();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  readonly #emit = (messages: Uint8Array[]): void => {
    if (messages.length === 0) return;
    this.signatures += messages.length;
    this.#o.onSignatures(messages);
  };

  readonly #fail = (err: unknown): void => {
    this.#o.onError?.(err);
  };
}
