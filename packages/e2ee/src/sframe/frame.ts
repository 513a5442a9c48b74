/**
 * Stateless SFrame encryption/decryption of one frame (RFC 9605 §4.4.3-4.4.4) with a key
 * already derived for one KID. State (counters, replay windows, key store) lives in
 * `SFrameContext`; this layer is what the test vectors exercise directly.
 */
import { concatBytes } from './bytes.ts';
import { SFrameError } from './errors.ts';
import { type DecodedHeader, decodeHeader, encodeHeader } from './header.ts';
import { deriveKeySalt, sframeNonce } from './keys.ts';
import { type CipherSuite, importAeadKey, type SFrameAead } from './suites.ts';

const EMPTY = new Uint8Array(0);

/** The per-KID working key: imported AEAD key + salt. */
export interface SFrameKey {
  readonly kid: bigint;
  readonly suite: CipherSuite;
  readonly aead: SFrameAead;
  readonly salt: Uint8Array;
}

/** Derives sframe_key/sframe_salt from a base key and imports the key (non-extractable). */
export async function deriveSFrameKey(s: CipherSuite, kid: bigint, baseKey: Uint8Array): Promise<SFrameKey> {
  const { key, salt } = await deriveKeySalt(s, kid, baseKey);
  try {
    return { kid, suite: s, aead: await importAeadKey(s, key), salt };
  } finally {
    key.fill(0);
  }
}

function aadFor(header: Uint8Array, metadata: Uint8Array): Uint8Array {
  return metadata.length === 0 ? header : concatBytes(header, metadata);
}

/** encrypt(CTR, KID, metadata, plaintext) → header || ciphertext || tag. */
export async function encryptFrame(
  key: SFrameKey,
  ctr: bigint,
  plaintext: Uint8Array,
  metadata: Uint8Array = EMPTY,
): Promise<Uint8Array<ArrayBuffer>> {
  const header = encodeHeader(key.kid, ctr);
  const nonce = sframeNonce(key.salt, ctr);
  const sealed = await key.aead.seal(nonce, aadFor(header, metadata), plaintext);
  return concatBytes(header, sealed);
}

/**
 * Decrypts a frame whose header was already parsed (so the caller can pick the key by KID and
 * run replay checks first). Throws SFrameError: 'truncated' | 'empty' | 'auth_failed'.
 */
export async function decryptFrameWithHeader(
  key: SFrameKey,
  header: DecodedHeader,
  frame: Uint8Array,
  metadata: Uint8Array = EMPTY,
): Promise<Uint8Array> {
  if (header.kid !== key.kid) throw new SFrameError('unknown_key', 'KID does not match the key');
  const body = frame.subarray(header.length);
  if (body.length < key.suite.nt) throw new SFrameError('truncated', 'frame shorter than header + tag');
  if (body.length === key.suite.nt) throw new SFrameError('empty', 'frame carries no payload');
  const nonce = sframeNonce(key.salt, header.ctr);
  return key.aead.open(nonce, aadFor(frame.subarray(0, header.length), metadata), body);
}

/** Parses and decrypts one frame with the given key. */
export async function decryptFrame(
  key: SFrameKey,
  frame: Uint8Array,
  metadata: Uint8Array = EMPTY,
): Promise<Uint8Array> {
  if (frame.length === 0) throw new SFrameError('empty');
  return decryptFrameWithHeader(key, decodeHeader(frame), frame, metadata);
}
