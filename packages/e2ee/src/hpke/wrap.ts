/**
 * Wrapping key material to a listener's X25519 public key with HPKE (RFC 9180, base mode):
 * DHKEM(X25519, HKDF-SHA256) + HKDF-SHA256 + AES-128-GCM, single-shot.
 *
 * Context binding: the HPKE `info` is
 *   "sotto/e2ee/v1/hpke-wrap" || 0x00 || context
 * where `context` is a canonical byte string (see `keyWrapContext`: purpose, room id,
 * generation, each length-prefixed). The same bytes are also the AEAD `aad`. A wrap made for
 * one room/generation/purpose therefore fails to open under any other; the KEM already binds
 * the recipient public key.
 *
 * Wire format of a wrap: enc (32 bytes) || ciphertext (plaintext length + 16-byte tag).
 *
 * Not covered here: sender authentication (who made the wrap). Base mode lets anyone who knows
 * the listener's public key wrap to it; the caller must authenticate the carrying message
 * (e.g. a stage member's signature) until an authenticated mode is wired in.
 */
import { Aes128Gcm, CipherSuite, HkdfSha256 } from '@hpke/core';
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';
import { concatBytes, utf8 } from '../sframe/bytes.ts';

export const WRAP_INFO_LABEL = 'sotto/e2ee/v1/hpke-wrap';
/** Encapsulated key size for DHKEM(X25519). */
export const WRAP_ENC_BYTES = 32;
/** AES-128-GCM tag size. */
export const WRAP_TAG_BYTES = 16;
export const X25519_PUBLIC_KEY_BYTES = 32;

export type KeyWrapErrorCode = 'bad_input' | 'unwrap_failed' | 'bad_key';

export class KeyWrapError extends Error {
  readonly code: KeyWrapErrorCode;
  constructor(code: KeyWrapErrorCode, message?: string) {
    super(message === undefined ? `key wrap: ${code}` : `key wrap: ${code}: ${message}`);
    this.name = 'KeyWrapError';
    this.code = code;
  }
}

let cachedSuite: CipherSuite | undefined;

/** The single HPKE suite Sotto uses for key wraps. */
export function hpkeSuite(): CipherSuite {
  cachedSuite ??= new CipherSuite({
    kem: new DhkemX25519HkdfSha256(),
    kdf: new HkdfSha256(),
    aead: new Aes128Gcm(),
  });
  return cachedSuite;
}

export interface KeyWrapContextFields {
  /** What is wrapped, e.g. 'sframe-base-key' or 'listener-kek'. */
  readonly purpose: string;
  /** The room (its random media-node name or app id; never shown to the SFU in clear). */
  readonly roomId: string;
  /** Key generation the wrap belongs to. */
  readonly generation: number | bigint;
}

function lengthPrefixed(bytes: Uint8Array): Uint8Array {
  if (bytes.length > 0xffff) throw new KeyWrapError('bad_input', 'context field longer than 65535 bytes');
  return concatBytes(new Uint8Array([bytes.length >> 8, bytes.length & 0xff]), bytes);
}

/** Canonical, unambiguous context bytes: u16-length-prefixed purpose, roomId, generation. */
export function keyWrapContext(fields: KeyWrapContextFields): Uint8Array<ArrayBuffer> {
  const gen = BigInt(fields.generation);
  if (gen < 0n) throw new KeyWrapError('bad_input', 'generation must be non-negative');
  return concatBytes(
    lengthPrefixed(utf8(fields.purpose)),
    lengthPrefixed(utf8(fields.roomId)),
    lengthPrefixed(utf8(gen.toString(10))),
  );
}

function contextBytes(context: Uint8Array | string): Uint8Array {
  return typeof context === 'string' ? utf8(context) : context;
}

/** HPKE info for a context (exported for tests and for other wrap formats built on it). */
export function wrapInfo(context: Uint8Array | string): Uint8Array<ArrayBuffer> {
  return concatBytes(utf8(WRAP_INFO_LABEL), new Uint8Array([0]), contextBytes(context));
}

export interface WrapKeyPair {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
}

export async function generateWrapKeyPair(): Promise<WrapKeyPair> {
  const kp = await hpkeSuite().kem.generateKeyPair();
  return { publicKey: kp.publicKey, privateKey: kp.privateKey };
}

/** Deterministic key pair from ≥32 bytes of secret input keying material (RFC 9180 DeriveKeyPair). */
export async function deriveWrapKeyPair(ikm: Uint8Array): Promise<WrapKeyPair> {
  if (ikm.length < 32) throw new KeyWrapError('bad_input', 'ikm must be at least 32 bytes');
  const kp = await hpkeSuite().kem.deriveKeyPair(ikm);
  return { publicKey: kp.publicKey, privateKey: kp.privateKey };
}

/** Raw 32-byte X25519 public key. */
export async function exportPublicKey(publicKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await hpkeSuite().kem.serializePublicKey(publicKey));
}

export async function importPublicKey(raw: Uint8Array): Promise<CryptoKey> {
  if (raw.length !== X25519_PUBLIC_KEY_BYTES) {
    throw new KeyWrapError('bad_key', `X25519 public key must be ${X25519_PUBLIC_KEY_BYTES} bytes`);
  }
  try {
    return await hpkeSuite().kem.deserializePublicKey(raw);
  } catch {
    throw new KeyWrapError('bad_key', 'invalid X25519 public key');
  }
}

/** Raw 32-byte X25519 private key (for the client's own key store; never send it). */
export async function exportPrivateKey(privateKey: CryptoKey): Promise<Uint8Array> {
  return new Uint8Array(await hpkeSuite().kem.serializePrivateKey(privateKey));
}

export async function importPrivateKey(raw: Uint8Array): Promise<CryptoKey> {
  try {
    return await hpkeSuite().kem.deserializePrivateKey(raw);
  } catch {
    throw new KeyWrapError('bad_key', 'invalid X25519 private key');
  }
}

async function toPublicKey(key: CryptoKey | Uint8Array): Promise<CryptoKey> {
  return key instanceof Uint8Array ? importPublicKey(key) : key;
}

/**
 * Wraps `keyMaterial` to the recipient for `context`. Returns enc || ciphertext
 * (32 + keyMaterial.length + 16 bytes).
 */
export async function wrapKey(
  recipientPublicKey: CryptoKey | Uint8Array,
  keyMaterial: Uint8Array,
  context: Uint8Array | string,
): Promise<Uint8Array> {
  if (keyMaterial.length === 0) throw new KeyWrapError('bad_input', 'nothing to wrap');
  const ctx = contextBytes(context);
  const recipient = await toPublicKey(recipientPublicKey);
  const { enc, ct } = await hpkeSuite().seal(
    { recipientPublicKey: recipient, info: wrapInfo(ctx) },
    keyMaterial,
    ctx,
  );
  return concatBytes(new Uint8Array(enc), new Uint8Array(ct));
}

/** Opens a wrap made by `wrapKey` for the same context. Throws KeyWrapError('unwrap_failed'). */
export async function unwrapKey(
  recipientPrivateKey: CryptoKey | WrapKeyPair,
  wrapped: Uint8Array,
  context: Uint8Array | string,
): Promise<Uint8Array> {
  if (wrapped.length <= WRAP_ENC_BYTES + WRAP_TAG_BYTES) {
    throw new KeyWrapError('bad_input', 'wrapped key too short');
  }
  const ctx = contextBytes(context);
  // @hpke/dhkem-x25519 keys are CryptoKey-shaped objects, not CryptoKey instances: check structurally.
  const recipientKey =
    'privateKey' in recipientPrivateKey ? recipientPrivateKey.privateKey : recipientPrivateKey;
  try {
    const pt = await hpkeSuite().open(
      { recipientKey, enc: wrapped.slice(0, WRAP_ENC_BYTES), info: wrapInfo(ctx) },
      wrapped.slice(WRAP_ENC_BYTES),
      ctx,
    );
    return new Uint8Array(pt);
  } catch {
    throw new KeyWrapError('unwrap_failed');
  }
}
