/**
 * Speaking indicators for hardened rooms. There the media node negotiates no audio-level header
 * extension and speakers send constant-bitrate Opus, so neither it nor anyone on the path can tell
 * when someone talks — and it cannot tell the room who is speaking either. Stage members who
 * publish a microphone send their own level instead, as a data packet (topic `sotto.level`)
 * encrypted with the room's frame keys:
 *  - at a fixed rate (every LEVEL_INTERVAL_MS) and a fixed size, speaking or not, so the data
 *    packets leak no more than the audio does;
 *  - under the sender's own KID (generation ‖ step ‖ leaf), with keys expanded for this use
 *    (FrameCrypto `domain`), so they share no key or counter with the audio;
 *  - accepted only from the media identity whose device the stage roster lists at that KID's leaf
 *    (a listener holding the room key cannot speak for a speaker — the node stamps the sender
 *    identity, and the node holds no key), checked before decrypting so a forgery cannot move
 *    the replay window.
 */
import { bytesEqualConstantTime, decodeHeader, decodeKid } from '@sotto/e2ee';
import { FrameCrypto } from './frame-crypto.ts';
import type { FrameKeySink, StageRosters } from './keys.ts';

export const LEVEL_TOPIC = 'sotto.level';
/** How often a stage member with a published microphone sends its level. */
export const LEVEL_INTERVAL_MS = 250;
/** A member whose last level is older than this is not speaking (lost packets, left). */
export const LEVEL_STALE_MS = 1_000;
const LEVEL_DOMAIN = 'sotto level v1';
const VERSION = 1;
const PLAINTEXT_BYTES = 4;

export interface LevelReading {
  /** 0 … 1 (quantised to 1/255 on the wire). */
  level: number;
  speaking: boolean;
}

/**
 * Why a level message was dropped. `no_roster`: we do not know that generation's stage roster yet
 * (a message that overtook our keys while joining); `not_on_stage`: the roster has no one at its leaf.
 */
export type LevelRejection =
  | 'no_sender'
  | 'no_roster'
  | 'not_on_stage'
  | 'wrong_sender'
  | 'undecryptable'
  | 'malformed';

export interface LevelStats {
  sent: number;
  received: number;
  rejected: Partial<Record<LevelRejection, number>>;
}

export class LevelChannel implements FrameKeySink {
  readonly #frames = new FrameCrypto({ domain: LEVEL_DOMAIN });
  readonly stats: LevelStats = { sent: 0, received: 0, rejected: {} };

  /**
   * `rosters`: the stage roster per generation (KID leaf → device signing key), as the KeyManager
   * holds it; `deviceKeyOf`: the signing key of the device a media identity announced.
   */
  constructor(
    private readonly rosters: () => StageRosters,
    private readonly deviceKeyOf: (handle: string) => Uint8Array | undefined,
  ) {}

  setBaseKey(generation: number, step: number, key: Uint8Array): void {
    this.#frames.setBaseKey(generation, step, key);
  }
  setSendKey(key: { generation: number; step: number; leaf: number }): void {
    void this.#frames.setSendKey(key);
  }
  clearSendKey(): void {
    this.#frames.clearSendKey();
  }
  forgetBefore(generation: number, step?: number): void {
    this.#frames.forgetBefore(generation, step);
  }
  clear(): void {
    this.#frames.clear();
  }

  /** The encrypted level message; null without a send key (off the stage, or no key yet). */
  async seal(reading: LevelReading): Promise<Uint8Array | null> {
    const level = Math.round(Math.min(1, Math.max(0, reading.level || 0)) * 255);
    const out = await this.#frames.encrypt(Uint8Array.of(VERSION, level, reading.speaking ? 1 : 0, 0));
    if (out) this.stats.sent++;
    return out;
  }

  /** The reading in a level message from `fromHandle`, or null (counted in `stats.rejected`). */
  async open(payload: Uint8Array, fromHandle: string | undefined): Promise<LevelReading | null> {
    if (!fromHandle) return this.#reject('no_sender');
    let generation: number;
    let leaf: number;
    try {
      ({ generation, leaf } = decodeKid(decodeHeader(payload).kid));
    } catch {
      return this.#reject('malformed');
    }
    const roster = this.rosters().get(generation);
    if (!roster) return this.#reject('no_roster');
    const listed = roster.get(leaf);
    if (!listed) return this.#reject('not_on_stage');
    const announced = this.deviceKeyOf(fromHandle);
    if (!announced || !bytesEqualConstantTime(listed, announced)) return this.#reject('wrong_sender');
    const plain = await this.#frames.decrypt(payload);
    if (!plain) return this.#reject('undecryptable');
    if (plain.length !== PLAINTEXT_BYTES || plain[0] !== VERSION) return this.#reject('malformed');
    this.stats.received++;
    return { level: (plain[1] ?? 0) / 255, speaking: plain[2] === 1 };
  }

  #reject(why: LevelRejection): null {
    this.stats.rejected[why] = (this.stats.rejected[why] ?? 0) + 1;
    return null;
  }
}
