/**
 * SFrame key derivation (RFC 9605 §4.4.2) and nonce formation (§4.4.3).
 *
 * ```
 * sframe_secret = HKDF-Extract("", base_key)
 * sframe_key    = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret key "  + KID(8 BE) + suite(2 BE), Nk)
 * sframe_salt   = HKDF-Expand(sframe_secret, "SFrame 1.0 Secret salt " + KID(8 BE) + suite(2 BE), Nn)
 * nonce         = sframe_salt XOR CTR (CTR left-padded to Nn bytes, big-endian)
 * ```
 * WebCrypto's HKDF performs Extract then Expand; an empty salt is equivalent to the RFC 5869
 * default (HashLen zero bytes) because HMAC zero-pads short keys.
 */
import { bufferSource, concatBytes, encodeBigEndian, utf8 } from './bytes.ts';
import { SFrameError } from './errors.ts';
import { MAX_UINT64 } from './header.ts';
import type { CipherSuite } from './suites.ts';

const KEY_LABEL = utf8('SFrame 1.0 Secret key ');
const SALT_LABEL = utf8('SFrame 1.0 Secret salt ');
const EMPTY = new Uint8Array(0);

/** Minimum accepted base key length (bytes). RFC 9605 sets none; shorter keys are a bug. */
export const MIN_BASE_KEY_BYTES = 16;

function checkKid(kid: bigint): void {
  if (typeof kid !== 'bigint' || kid < 0n || kid > MAX_UINT64) {
    throw new SFrameError('invalid_argument', 'kid must be a bigint in [0, 2^64-1]');
  }
}

function label(prefix: Uint8Array, kid: bigint, s: CipherSuite): Uint8Array<ArrayBuffer> {
  checkKid(kid);
  return concatBytes(prefix, encodeBigEndian(kid, 8), encodeBigEndian(BigInt(s.id), 2));
}

export function sframeKeyLabel(kid: bigint, s: CipherSuite): Uint8Array<ArrayBuffer> {
  return label(KEY_LABEL, kid, s);
}

export function sframeSaltLabel(kid: bigint, s: CipherSuite): Uint8Array<ArrayBuffer> {
  return label(SALT_LABEL, kid, s);
}

/** HKDF (Extract with an empty salt, then Expand) with the suite hash, via WebCrypto. */
export async function hkdf(
  hash: CipherSuite['hash'],
  ikm: Uint8Array,
  info: Uint8Array,
  length: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const subtle = globalThis.crypto.subtle;
  const key = await subtle.importKey('raw', bufferSource(ikm), 'HKDF', false, ['deriveBits']);
  const bits = await subtle.deriveBits(
    { name: 'HKDF', hash, salt: EMPTY, info: bufferSource(info) },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

export interface SFrameKeyMaterial {
  readonly key: Uint8Array<ArrayBuffer>;
  readonly salt: Uint8Array<ArrayBuffer>;
}

export function checkBaseKey(baseKey: Uint8Array): void {
  if (!(baseKey instanceof Uint8Array) || baseKey.length < MIN_BASE_KEY_BYTES) {
    throw new SFrameError('invalid_argument', `base key must be at least ${MIN_BASE_KEY_BYTES} bytes`);
  }
}

/** derive_key_salt(KID, base_key) from RFC 9605 §4.4.2. */
export async function deriveKeySalt(
  s: CipherSuite,
  kid: bigint,
  baseKey: Uint8Array,
): Promise<SFrameKeyMaterial> {
  checkBaseKey(baseKey);
  const [key, salt] = await Promise.all([
    hkdf(s.hash, baseKey, sframeKeyLabel(kid, s), s.nk),
    hkdf(s.hash, baseKey, sframeSaltLabel(kid, s), s.nn),
  ]);
  return { key, salt };
}

/** nonce = salt XOR encode_big_endian(ctr, Nn). Writes into `out` if given (hot path). */
export function sframeNonce(
  salt: Uint8Array,
  ctr: bigint,
  out: Uint8Array<ArrayBuffer> = new Uint8Array(salt.length),
): Uint8Array<ArrayBuffer> {
  out.set(salt);
  const n = out.length;
  if (ctr <= 0xffffffffn) {
    // common case: counters below 2^32 need no BigInt arithmetic per byte
    const c = Number(ctr);
    out[n - 1] = out[n - 1]! ^ (c & 0xff);
    out[n - 2] = out[n - 2]! ^ ((c >>> 8) & 0xff);
    out[n - 3] = out[n - 3]! ^ ((c >>> 16) & 0xff);
    out[n - 4] = out[n - 4]! ^ (c >>> 24);
    return out;
  }
  let v = ctr;
  for (let i = n - 1; i >= 0 && v > 0n; i--) {
    out[i] = out[i]! ^ Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}
