/**
 * Speaker authenticity. Every listener holds the SFrame keys (that is how it decrypts), so the
 * AEAD alone cannot tell a speaker's frame from one a listener forged under the speaker's KID.
 * Each speaker therefore signs, once a second (or every `maxFrames` frames), the frames it sent,
 * with its Ed25519 device identity key; receivers check the signature against the current stage
 * roster (KID → MLS leaf → that member's signing key) and mute what is not covered.
 *
 * What is signed per frame is a *frame digest* — the first 8 bytes of SHA-256 over the whole
 * SFrame frame (header ‖ ciphertext ‖ tag) — rather than the bare AES-GCM tag: with the key in
 * hand, GHASH is linear, so a key holder can make a *different* ciphertext with the *same* GCM
 * tag; a hash over the whole frame does not have that weakness. 64 bits leave a 2^64 second-
 * preimage search per forged frame.
 *
 * Message (travels in a LiveKit data packet; big-endian):
 * ```
 * u8   version = 1
 * u64  kid
 * u64  first ctr
 * u8   count N (1…255)                  last ctr = first ctr + N - 1
 * N ×  8-byte frame digests, ctr order
 * 64   Ed25519 signature over
 *      SHA-256("sotto/e2ee/v1/speaker-sig" ‖ 0x00 ‖ u16 len ‖ context ‖ kid ‖ first ctr ‖ last ctr ‖ digests)
 * ```
 * 82 + 8·N bytes: 482 bytes for one second of 20 ms Opus frames. `context` binds the room (use
 * the MLS group id). Digests travel in the message so a receiver that lost some frames can
 * still verify the ones it got.
 *
 * Receiver verdict per received frame (kid, ctr):
 * - `verified`: a valid signature by the roster key for the KID's leaf covers ctr and the digest
 *   matches;
 * - `forged`: a valid signature covers ctr with a different digest (someone else made this
 *   frame), or the only claims covering it carry bad signatures (wrong key: e.g. a listener
 *   signing with its own key, or a tampered message);
 * - `unverified`: nothing covers it yet (signature late, lost, or the KID's leaf is not on the
 *   roster). Applications mute unverified audio after a short grace period.
 */

import { ED25519_SIGNATURE_BYTES, signEd25519, verifyEd25519 } from '../identity/device.ts';
import { bytesEqualConstantTime, concatBytes, encodeBigEndian, utf8 } from '../sframe/bytes.ts';
import { decodeHeader } from '../sframe/header.ts';

export const SPEAKER_SIG_VERSION = 1;
export const SPEAKER_SIG_LABEL = 'sotto/e2ee/v1/speaker-sig';
export const FRAME_DIGEST_BYTES = 8;
export const MAX_FRAMES_PER_SIGNATURE = 255;
const HEADER_BYTES = 1 + 8 + 8 + 1;

export type FrameVerdict = 'verified' | 'unverified' | 'forged';

export interface SpeakerSignature {
  readonly kid: bigint;
  readonly firstCtr: bigint;
  readonly digests: readonly Uint8Array[];
  readonly signature: Uint8Array;
}

export class SpeakerSigError extends Error {
  constructor(message: string) {
    super(`speaker-sig: ${message}`);
    this.name = 'SpeakerSigError';
  }
}

/** First 8 bytes of SHA-256(frame). */
export async function frameDigest(frame: Uint8Array): Promise<Uint8Array> {
  const h = await globalThis.crypto.subtle.digest('SHA-256', Uint8Array.from(frame));
  return new Uint8Array(h, 0, FRAME_DIGEST_BYTES);
}

/** The 32-byte hash that is signed. */
export async function speakerSigHash(
  kid: bigint,
  firstCtr: bigint,
  digests: readonly Uint8Array[],
  context: Uint8Array,
): Promise<Uint8Array> {
  if (context.length > 0xffff) throw new SpeakerSigError('context longer than 65535 bytes');
  const lastCtr = firstCtr + BigInt(digests.length) - 1n;
  const data = concatBytes(
    utf8(SPEAKER_SIG_LABEL),
    Uint8Array.of(0, context.length >> 8, context.length & 0xff),
    context,
    encodeBigEndian(kid, 8),
    encodeBigEndian(firstCtr, 8),
    encodeBigEndian(lastCtr, 8),
    ...digests,
  );
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', data));
}

export function encodeSpeakerSignature(s: SpeakerSignature): Uint8Array {
  const n = s.digests.length;
  if (n < 1 || n > MAX_FRAMES_PER_SIGNATURE) throw new SpeakerSigError('1-255 frames per signature');
  if (s.signature.length !== ED25519_SIGNATURE_BYTES) throw new SpeakerSigError('signature must be 64 bytes');
  for (const d of s.digests) {
    if (d.length !== FRAME_DIGEST_BYTES) throw new SpeakerSigError('digest must be 8 bytes');
  }
  return concatBytes(
    Uint8Array.of(SPEAKER_SIG_VERSION),
    encodeBigEndian(s.kid, 8),
    encodeBigEndian(s.firstCtr, 8),
    Uint8Array.of(n),
    ...s.digests,
    s.signature,
  );
}

function readU64(bytes: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(bytes[offset + i]!);
  return v;
}

/** Parses a signature message; undefined if malformed (wrong version, length, count). */
export function decodeSpeakerSignature(bytes: Uint8Array): SpeakerSignature | undefined {
  if (bytes.length < HEADER_BYTES + FRAME_DIGEST_BYTES + ED25519_SIGNATURE_BYTES) return undefined;
  if (bytes[0] !== SPEAKER_SIG_VERSION) return undefined;
  const n = bytes[17]!;
  if (n === 0 || bytes.length !== HEADER_BYTES + n * FRAME_DIGEST_BYTES + ED25519_SIGNATURE_BYTES)
    return undefined;
  const kid = readU64(bytes, 1);
  const firstCtr = readU64(bytes, 9);
  if (firstCtr + BigInt(n) - 1n > 0xffffffffffffffffn) return undefined;
  const digests: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const at = HEADER_BYTES + i * FRAME_DIGEST_BYTES;
    digests.push(bytes.slice(at, at + FRAME_DIGEST_BYTES));
  }
  const signature = bytes.slice(bytes.length - ED25519_SIGNATURE_BYTES);
  return { kid, firstCtr, digests, signature };
}

export interface SpeakerSignerOptions {
  /** Bound to the room (e.g. the MLS group id); must match the receivers'. */
  readonly context?: Uint8Array;
  /** Sign after this many frames even before the interval is over (1-255, default 100). */
  readonly maxFrames?: number;
  /** Signing interval (default 1000 ms); see `due`. */
  readonly intervalMs?: number;
  readonly now?: () => number;
}

interface Batch {
  readonly kid: bigint;
  readonly firstCtr: bigint;
  readonly digests: Promise<Uint8Array>[];
  readonly startedAt: number;
}

/**
 * Sender side: `addFrame` each SFrame frame as it is sent (in send order); call `flush` when
 * `due()` (a 1 s timer) and send the returned messages. `addFrame` itself returns messages when
 * a batch fills up or the KID changes / the counter jumps.
 */
export class SpeakerSigner {
  private readonly context: Uint8Array;
  private readonly maxFrames: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private batch: Batch | undefined;

  constructor(
    private readonly signingKey: CryptoKey,
    options: SpeakerSignerOptions = {},
  ) {
    this.context = options.context ?? new Uint8Array(0);
    this.maxFrames = options.maxFrames ?? 100;
    if (
      !Number.isInteger(this.maxFrames) ||
      this.maxFrames < 1 ||
      this.maxFrames > MAX_FRAMES_PER_SIGNATURE
    ) {
      throw new SpeakerSigError('maxFrames must be 1-255');
    }
    this.intervalMs = options.intervalMs ?? 1000;
    this.now = options.now ?? (() => Date.now());
  }

  /** Records a sent frame. Returns signature messages for batches this frame closed. */
  addFrame(frame: Uint8Array): Promise<Uint8Array[]> {
    const { kid, ctr } = decodeHeader(frame); // synchronous: order is the call order
    const closed: Batch[] = [];
    const b = this.batch;
    if (b !== undefined && (b.kid !== kid || b.firstCtr + BigInt(b.digests.length) !== ctr)) {
      closed.push(b);
      this.batch = undefined;
    }
    this.batch ??= { kid, firstCtr: ctr, digests: [], startedAt: this.now() };
    this.batch.digests.push(frameDigest(frame));
    if (this.batch.digests.length >= this.maxFrames) {
      closed.push(this.batch);
      this.batch = undefined;
    }
    return Promise.all(closed.map((c) => this.sign(c)));
  }

  /** True when the open batch is at least `intervalMs` old. */
  due(now: number = this.now()): boolean {
    return this.batch !== undefined && now - this.batch.startedAt >= this.intervalMs;
  }

  /** Signs the open batch (if any). */
  async flush(): Promise<Uint8Array[]> {
    const b = this.batch;
    this.batch = undefined;
    return b === undefined ? [] : [await this.sign(b)];
  }

  private async sign(b: Batch): Promise<Uint8Array> {
    const digests = await Promise.all(b.digests);
    const hash = await speakerSigHash(b.kid, b.firstCtr, digests, this.context);
    const signature = await signEd25519(this.signingKey, hash);
    return encodeSpeakerSignature({ kid: b.kid, firstCtr: b.firstCtr, digests, signature });
  }
}

/** KID → the Ed25519 public key of the stage member who owns it (undefined: nobody on stage). */
export type SpeakerRoster = (kid: bigint) => Uint8Array | undefined;

export type SignatureCheck =
  | { readonly status: 'valid'; readonly kid: bigint; readonly firstCtr: bigint; readonly count: number }
  | {
      readonly status: 'bad_signature';
      readonly kid: bigint;
      readonly firstCtr: bigint;
      readonly count: number;
    }
  | { readonly status: 'unknown_sender'; readonly kid: bigint }
  | { readonly status: 'malformed' };

export interface SpeakerVerifierOptions {
  readonly roster: SpeakerRoster;
  readonly context?: Uint8Array;
  /** Per-KID memory, in counters (default 1024: ~20 s of audio). */
  readonly maxFramesPerKid?: number;
  /** KIDs remembered (default 256). */
  readonly maxKids?: number;
}

interface KidState {
  /** Digests of frames we received, by ctr. */
  readonly received: Map<bigint, Promise<Uint8Array>>;
  /** Digests a valid signature vouches for, by ctr. */
  readonly signed: Map<bigint, Uint8Array>;
  /** Counters only claimed by messages with bad signatures. */
  readonly badClaims: Set<bigint>;
}

function prune<K>(m: Map<K, unknown> | Set<K>, max: number): void {
  while (m.size > max) {
    const first = m.keys().next();
    if (first.done === true) return;
    m.delete(first.value);
  }
}

/** Receiver side: records received frames, checks signature messages, gives per-frame verdicts. */
export class SpeakerVerifier {
  private readonly roster: SpeakerRoster;
  private readonly context: Uint8Array;
  private readonly maxFrames: number;
  private readonly maxKids: number;
  private readonly kids = new Map<bigint, KidState>();

  constructor(options: SpeakerVerifierOptions) {
    this.roster = options.roster;
    this.context = options.context ?? new Uint8Array(0);
    this.maxFrames = options.maxFramesPerKid ?? 1024;
    this.maxKids = options.maxKids ?? 256;
  }

  private state(kid: bigint): KidState {
    let s = this.kids.get(kid);
    if (s === undefined) {
      s = { received: new Map(), signed: new Map(), badClaims: new Set() };
      this.kids.set(kid, s);
      prune(this.kids, this.maxKids);
    }
    return s;
  }

  /** Records a frame that SFrame-decrypted successfully (pass the SFrame bytes as received). */
  async addFrame(frame: Uint8Array): Promise<{ kid: bigint; ctr: bigint }> {
    const { kid, ctr } = decodeHeader(frame);
    const s = this.state(kid);
    const digest = frameDigest(frame);
    s.received.set(ctr, digest);
    prune(s.received, this.maxFrames);
    await digest;
    return { kid, ctr };
  }

  /** Checks one signature message and records what it vouches for. */
  async addSignature(message: Uint8Array): Promise<SignatureCheck> {
    const sig = decodeSpeakerSignature(message);
    if (sig === undefined) return { status: 'malformed' };
    const count = sig.digests.length;
    const key = this.roster(sig.kid);
    if (key === undefined) return { status: 'unknown_sender', kid: sig.kid };
    const hash = await speakerSigHash(sig.kid, sig.firstCtr, sig.digests, this.context);
    const ok = await verifyEd25519(key, hash, sig.signature);
    const s = this.state(sig.kid);
    for (let i = 0; i < count; i++) {
      const ctr = sig.firstCtr + BigInt(i);
      if (ok) {
        // first valid signature for a ctr wins: a signer cannot be made to vouch twice
        if (!s.signed.has(ctr)) s.signed.set(ctr, sig.digests[i]!);
        s.badClaims.delete(ctr);
      } else if (!s.signed.has(ctr)) {
        s.badClaims.add(ctr);
      }
    }
    prune(s.signed, this.maxFrames);
    prune(s.badClaims, this.maxFrames);
    return { status: ok ? 'valid' : 'bad_signature', kid: sig.kid, firstCtr: sig.firstCtr, count };
  }

  /** Verdict for the frame received under (kid, ctr). */
  async verdict(kid: bigint, ctr: bigint): Promise<FrameVerdict> {
    const s = this.kids.get(kid);
    if (s === undefined) return 'unverified';
    const signed = s.signed.get(ctr);
    const received = s.received.get(ctr);
    if (signed !== undefined) {
      if (received === undefined) return 'unverified';
      return bytesEqualConstantTime(await received, signed) ? 'verified' : 'forged';
    }
    return s.badClaims.has(ctr) ? 'forged' : 'unverified';
  }

  /** Verdict for an SFrame frame (parses its header). */
  verdictForFrame(frame: Uint8Array): Promise<FrameVerdict> {
    const { kid, ctr } = decodeHeader(frame);
    return this.verdict(kid, ctr);
  }

  /** Forget a KID (e.g. its generation was retired). */
  forget(kid: bigint): void {
    this.kids.delete(kid);
  }
}
