/**
 * Sotto's SFrame key IDs and the per-join key ratchet.
 *
 * KID layout (a 64-bit unsigned integer carried as `bigint`; least significant bits first):
 *
 * ```
 *  63                                   24 23        16 15                 0
 * +---------------------------------------+------------+--------------------+
 * |          generation (40 bits)         | step (8 b) | sender leaf (16 b) |
 * +---------------------------------------+------------+--------------------+
 * KID = generation << 24 | (ratchetStep mod 256) << 16 | leaf
 * ```
 * - `leaf`: the sender's MLS leaf index on the stage (0-65535). Each sender has its own KIDs,
 *   hence its own sframe_key/salt even though a generation's base key is shared (RFC 9605 §5.2).
 * - `step`: the low 8 bits of the ratchet step (RFC 9605 §5.1 with R = 8). A receiver
 *   recovers the full step with `unwrapRatchetStep` relative to the newest step it knows, so up
 *   to 128 steps of reordering are tolerated.
 * - `generation`: a new base key (leave/kick/5-minute rotation), up to 2^40-1.
 *
 * Header cost: a KID < 8 fits in the config byte; otherwise it takes 1-8 bytes (3 bytes while
 * generation is 0, 4 bytes for generations 1-255, 5 bytes up to 65535).
 *
 * Ratchet (join → ratchet forward, RFC 9605 §5.1):
 * ```
 * base_key[step+1] = HKDF-Expand(HKDF-Extract("", base_key[step]), "SFrame 1.0 Ratchet", Hash.Nh)
 * ```
 * HKDF is one-way: a newcomer given base_key[n] can derive n+1, n+2, … but not n-1.
 */

import { utf8 } from './bytes.ts';
import { SFrameError } from './errors.ts';
import { checkBaseKey, hkdf } from './keys.ts';
import { type CipherSuiteId, DEFAULT_CIPHER_SUITE, getCipherSuite } from './suites.ts';

export const KID_LEAF_BITS = 16;
export const KID_STEP_BITS = 8;
export const KID_GENERATION_BITS = 40;
export const MAX_LEAF_INDEX = (1 << KID_LEAF_BITS) - 1;
export const MAX_GENERATION = 2 ** KID_GENERATION_BITS - 1;
const STEP_MODULUS = 1 << KID_STEP_BITS;

/** Ratchet label, exactly RFC 9605 §5.1's. */
export const RATCHET_LABEL = 'SFrame 1.0 Ratchet';

export interface KidFields {
  /** Key generation, 0 … 2^40-1. */
  readonly generation: number;
  /** Ratchet step (full value, ≥ 0); only its low 8 bits are carried in the KID. */
  readonly step: number;
  /** Sender's leaf index, 0 … 65535. */
  readonly leaf: number;
}

export interface DecodedKid {
  readonly generation: number;
  /** Low 8 bits of the ratchet step (use unwrapRatchetStep for the full value). */
  readonly stepLow: number;
  readonly leaf: number;
}

function checkInt(name: string, value: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new SFrameError('invalid_argument', `${name} must be an integer in [0, ${max}]`);
  }
}

export function encodeKid(fields: KidFields): bigint {
  checkInt('generation', fields.generation, MAX_GENERATION);
  checkInt('step', fields.step, Number.MAX_SAFE_INTEGER);
  checkInt('leaf', fields.leaf, MAX_LEAF_INDEX);
  return (
    (BigInt(fields.generation) << BigInt(KID_LEAF_BITS + KID_STEP_BITS)) |
    (BigInt(fields.step % STEP_MODULUS) << BigInt(KID_LEAF_BITS)) |
    BigInt(fields.leaf)
  );
}

export function decodeKid(kid: bigint): DecodedKid {
  if (typeof kid !== 'bigint' || kid < 0n || kid >= 1n << 64n) {
    throw new SFrameError('invalid_argument', 'kid must be a bigint in [0, 2^64-1]');
  }
  return {
    generation: Number(kid >> BigInt(KID_LEAF_BITS + KID_STEP_BITS)),
    stepLow: Number((kid >> BigInt(KID_LEAF_BITS)) & BigInt(STEP_MODULUS - 1)),
    leaf: Number(kid & BigInt(MAX_LEAF_INDEX)),
  };
}

/**
 * The full ratchet step whose low 8 bits are `stepLow`, nearest to `reference` (the newest
 * step known for that sender and generation): within [reference - 128, reference + 127],
 * never negative.
 */
export function unwrapRatchetStep(stepLow: number, reference: number): number {
  checkInt('stepLow', stepLow, STEP_MODULUS - 1);
  checkInt('reference', reference, Number.MAX_SAFE_INTEGER);
  const base = reference - (reference % STEP_MODULUS);
  let candidate = base + stepLow;
  const half = STEP_MODULUS / 2;
  if (candidate - reference >= half) candidate -= STEP_MODULUS;
  else if (reference - candidate > half) candidate += STEP_MODULUS;
  return candidate < 0 ? candidate + STEP_MODULUS : candidate;
}

/** One ratchet step: base_key[n] → base_key[n+1] (output length Hash.Nh of the suite). */
export async function ratchetBaseKey(
  baseKey: Uint8Array,
  suiteId: CipherSuiteId = DEFAULT_CIPHER_SUITE,
): Promise<Uint8Array<ArrayBuffer>> {
  checkBaseKey(baseKey);
  const s = getCipherSuite(suiteId);
  return hkdf(s.hash, baseKey, utf8(RATCHET_LABEL), s.nh);
}

/** Applies `steps` ratchet steps (0 returns a copy). */
export async function ratchetForward(
  baseKey: Uint8Array,
  steps: number,
  suiteId: CipherSuiteId = DEFAULT_CIPHER_SUITE,
): Promise<Uint8Array<ArrayBuffer>> {
  checkInt('steps', steps, 1_000_000);
  let key: Uint8Array<ArrayBuffer> = Uint8Array.from(baseKey);
  for (let i = 0; i < steps; i++) {
    const next = await ratchetBaseKey(key, suiteId);
    key.fill(0);
    key = next;
  }
  return key;
}
