/**
 * SFrameContext: the key store and per-KID state around the stateless frame functions.
 *
 * Sender side: one counter per encryption KID, reserved synchronously before any await, so
 * concurrent `encrypt` calls never share a CTR. Counters survive `deleteKey` and re-adding the
 * same KID continues where it stopped, so a (base_key, KID, CTR) triple is never reused.
 *
 * Receiver side: keys by KID, one replay window per KID (default 128 counters). Frames are
 * dropped with a typed SFrameError when empty, malformed, for an unknown KID, replayed or
 * too old, or failing authentication. The window only advances after authentication.
 *
 * RFC 9605 §4.4.1: a base key is usable for encryption or decryption, never both — a KID
 * installed for one role is refused for the other.
 */
import { SFrameError } from './errors.ts';
import { decryptFrameWithHeader, deriveSFrameKey, encryptFrame, type SFrameKey } from './frame.ts';
import { type DecodedHeader, decodeHeader, MAX_UINT64 } from './header.ts';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './replay.ts';
import { type CipherSuite, type CipherSuiteId, DEFAULT_CIPHER_SUITE, getCipherSuite } from './suites.ts';

const EMPTY = new Uint8Array(0);

export interface SFrameContextOptions {
  /** Cipher suite for every key in this context (default AES_128_GCM_SHA256_128). */
  readonly suite?: CipherSuiteId;
  /** Replay window size in counters (default 128). */
  readonly replayWindow?: number;
  /** Highest CTR the sender may use per KID (default 2^64-1); lower it to force rekeying. */
  readonly maxCounter?: bigint;
}

export interface DecryptedFrame {
  readonly kid: bigint;
  readonly ctr: bigint;
  readonly plaintext: Uint8Array;
}

interface Receiver {
  readonly key: SFrameKey;
  readonly window: ReplayWindow;
}

export class SFrameContext {
  readonly suite: CipherSuite;
  private readonly windowSize: number;
  private readonly maxCounter: bigint;
  private readonly senders = new Map<bigint, SFrameKey>();
  /** Next CTR per encryption KID; kept after deleteKey so counters never restart. */
  private readonly nextCtr = new Map<bigint, bigint>();
  private readonly receivers = new Map<bigint, Receiver>();
  /** Installs in flight: a deleteKey during derivation cancels the install. */
  private readonly pending = new Map<bigint, symbol>();

  constructor(options: SFrameContextOptions = {}) {
    this.suite = getCipherSuite(options.suite ?? DEFAULT_CIPHER_SUITE);
    this.windowSize = options.replayWindow ?? DEFAULT_REPLAY_WINDOW;
    new ReplayWindow(this.windowSize); // validates the size early
    const max = options.maxCounter ?? MAX_UINT64;
    if (max < 0n || max > MAX_UINT64) throw new SFrameError('invalid_argument', 'maxCounter out of range');
    this.maxCounter = max;
  }

  /** Installs (or replaces) the key this endpoint encrypts with under `kid`. */
  async addEncryptionKey(kid: bigint, baseKey: Uint8Array): Promise<void> {
    if (this.receivers.has(kid)) {
      throw new SFrameError('invalid_argument', `KID ${kid} is a decryption key in this context`);
    }
    const key = await this.derive(kid, baseKey);
    if (key === undefined) return;
    if (this.receivers.has(kid)) {
      throw new SFrameError('invalid_argument', `KID ${kid} is a decryption key in this context`);
    }
    this.senders.set(kid, key);
    if (!this.nextCtr.has(kid)) this.nextCtr.set(kid, 0n);
  }

  /** Installs (or replaces, keeping the replay window) a key to decrypt frames under `kid`. */
  async addDecryptionKey(kid: bigint, baseKey: Uint8Array): Promise<void> {
    if (this.senders.has(kid) || this.nextCtr.has(kid)) {
      throw new SFrameError('invalid_argument', `KID ${kid} is an encryption key in this context`);
    }
    const key = await this.derive(kid, baseKey);
    if (key === undefined) return;
    if (this.senders.has(kid)) {
      throw new SFrameError('invalid_argument', `KID ${kid} is an encryption key in this context`);
    }
    const window = this.receivers.get(kid)?.window ?? new ReplayWindow(this.windowSize);
    this.receivers.set(kid, { key, window });
  }

  private async derive(kid: bigint, baseKey: Uint8Array): Promise<SFrameKey | undefined> {
    const token = Symbol('install');
    this.pending.set(kid, token);
    try {
      const key = await deriveSFrameKey(this.suite, kid, baseKey);
      return this.pending.get(kid) === token ? key : undefined;
    } finally {
      if (this.pending.get(kid) === token) this.pending.delete(kid);
    }
  }

  /**
   * Forgets the key(s) for `kid` (both roles) and its replay window; an install still in
   * flight for `kid` is cancelled. The sender counter is remembered. Returns whether anything
   * was removed.
   */
  deleteKey(kid: bigint): boolean {
    const hadPending = this.pending.delete(kid);
    const s = this.senders.delete(kid);
    const r = this.receivers.delete(kid);
    return s || r || hadPending;
  }

  /**
   * Deletes every installed key whose KID matches (e.g. all KIDs of generations older than the
   * grace period: `kid => decodeKid(kid).generation < g`). Returns how many KIDs were removed.
   */
  deleteKeys(predicate: (kid: bigint) => boolean): number {
    const kids = new Set([...this.senders.keys(), ...this.receivers.keys(), ...this.pending.keys()]);
    let removed = 0;
    for (const kid of kids) if (predicate(kid) && this.deleteKey(kid)) removed++;
    return removed;
  }

  hasEncryptionKey(kid: bigint): boolean {
    return this.senders.has(kid);
  }

  hasDecryptionKey(kid: bigint): boolean {
    return this.receivers.has(kid);
  }

  /** KIDs currently installed for decryption. */
  decryptionKids(): bigint[] {
    return [...this.receivers.keys()];
  }

  /** The CTR the next `encrypt` under `kid` will use. */
  nextCounter(kid: bigint): bigint | undefined {
    return this.nextCtr.get(kid);
  }

  /** Encrypts one frame under `kid` with the next counter. */
  async encrypt(kid: bigint, plaintext: Uint8Array, metadata: Uint8Array = EMPTY): Promise<Uint8Array> {
    const key = this.senders.get(kid);
    if (key === undefined) throw new SFrameError('unknown_key', `no encryption key for KID ${kid}`);
    if (plaintext.length === 0) throw new SFrameError('empty', 'refusing to encrypt an empty frame');
    const ctr = this.nextCtr.get(kid) ?? 0n;
    if (ctr > this.maxCounter) throw new SFrameError('counter_exhausted', `KID ${kid}`);
    this.nextCtr.set(kid, ctr + 1n); // reserve before awaiting: no two frames share a CTR
    return encryptFrame(key, ctr, plaintext, metadata);
  }

  /** Parses, replay-checks and decrypts one frame. Throws only SFrameError. */
  async decrypt(frame: Uint8Array, metadata: Uint8Array = EMPTY): Promise<DecryptedFrame> {
    if (!(frame instanceof Uint8Array) || frame.length === 0) throw new SFrameError('empty');
    const header: DecodedHeader = decodeHeader(frame);
    const receiver = this.receivers.get(header.kid);
    if (receiver === undefined) throw new SFrameError('unknown_key', `KID ${header.kid}`);
    const early = receiver.window.check(header.ctr);
    if (early !== 'ok') throw new SFrameError('replay', `${early} CTR ${header.ctr} for KID ${header.kid}`);
    let plaintext: Uint8Array;
    try {
      plaintext = await decryptFrameWithHeader(receiver.key, header, frame, metadata);
    } catch (e) {
      if (e instanceof SFrameError) throw e;
      throw new SFrameError('auth_failed', 'decryption error');
    }
    // Re-check after the await: a concurrent decrypt of the same CTR may have committed.
    const verdict = receiver.window.commit(header.ctr);
    if (verdict !== 'ok')
      throw new SFrameError('replay', `${verdict} CTR ${header.ctr} for KID ${header.kid}`);
    return { kid: header.kid, ctr: header.ctr, plaintext };
  }
}
