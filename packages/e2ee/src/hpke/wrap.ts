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
 * Keys are WebCrypto X25519 CryptoKeys (`@hpke/core`'s own DHKEM(X25519), which does the DH
 * with `deriveBits`): a device's private key is generated or imported *non-extractable*
 * (usage `deriveBits` only), so it can live in IndexedDB without any script on the origin being
 * able to read it. Opening with a non-extractable key works because the KEM gets the key pair
 * (`unwrapKey` passes it) and so never needs to export the private key to find the public one.
 * Same KEM id (0x0020) and bytes on the wire as any other RFC 9180 implementation (e.g. the
 * pure-JS `@hpke/dhkem-x25519` used before), so browsers and Node bots interoperate.
 *
 * Not covered here: sender authentication (who made the wrap). Base mode lets anyone who knows
 * the listener's public key wrap to it; the caller must authenticate the carrying message
 * (e.g. a stage member's signature) until an authenticated mode is wired in.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256, HkdfSha256 } from '@hpke/core';
import { bufferSource, bytesEqualConstantTime, concatBytes, utf8 } from '../sframe/bytes.ts';

export const WRAP_INFO_LABEL = 'sotto/e2ee/v1/hpke-wrap';
/** Encapsulated key size for DHKEM(X25519). */
export const WRAP_ENC_BYTES = 32;
/** AES-128-GCM tag size. */
export const WRAP_TAG_BYTES = 16;
export const X25519_PUBLIC_KEY_BYTES = 32;
export const X25519_PRIVATE_KEY_BYTES = 32;
/** DER prefix of a PKCS#8 X25519 private key (RFC 8410): followed by the 32 raw bytes. */
const X25519_PKCS8_PREFIX = Uint8Array.from('302e020100300506032b656e04220420'.match(/../g) ?? [], (h) =>
  Number.parseInt(h, 16),
);
/** The X25519 base point u = 9: X25519(sk, 9) is sk's public key. */
const X25519_BASE_POINT = Uint8Array.from({ length: 32 }, (_, i) => (i === 0 ? 9 : 0));

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

export interface WrapKeyOptions {
  /**
   * Whether the private key can be exported (default false). Only a key that must be written
   * out — a bot's key file — is made extractable; a browser device's never is.
   */
  readonly extractable?: boolean;
}

/** A fresh X25519 key pair (WebCrypto); the private key is non-extractable unless asked. */
export async function generateWrapKeyPair(options: WrapKeyOptions = {}): Promise<WrapKeyPair> {
  try {
    const kp = (await globalThis.crypto.subtle.generateKey({ name: 'X25519' }, options.extractable === true, [
      'deriveBits',
    ])) as CryptoKeyPair;
    return { publicKey: kp.publicKey, privateKey: kp.privateKey };
  } catch {
    throw new KeyWrapError('bad_key', 'this runtime has no WebCrypto X25519');
  }
}

/**
 * Deterministic key pair from ≥32 bytes of secret input keying material (RFC 9180 DeriveKeyPair).
 * Its private key is extractable: whoever holds `ikm` can re-derive it anyway.
 */
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

/**
 * Raw 32-byte X25519 private key, for a bot's key file only (never send it). Works only on a key
 * made extractable (`generateWrapKeyPair({ extractable: true })`): KeyWrapError('bad_key') else.
 */
export async function exportPrivateKey(privateKey: CryptoKey): Promise<Uint8Array> {
  if (!privateKey.extractable) throw new KeyWrapError('bad_key', 'the private key is not extractable');
  try {
    return new Uint8Array(await hpkeSuite().kem.serializePrivateKey(privateKey));
  } catch {
    throw new KeyWrapError('bad_key', 'cannot export the X25519 private key');
  }
}

/** Imports a raw 32-byte X25519 private key (e.g. from a key file): non-extractable unless asked. */
export async function importPrivateKey(raw: Uint8Array, options: WrapKeyOptions = {}): Promise<CryptoKey> {
  if (raw.length !== X25519_PRIVATE_KEY_BYTES) {
    throw new KeyWrapError('bad_key', `X25519 private key must be ${X25519_PRIVATE_KEY_BYTES} bytes`);
  }
  const pkcs8 = concatBytes(X25519_PKCS8_PREFIX, raw);
  try {
    return await globalThis.crypto.subtle.importKey(
      'pkcs8',
      pkcs8,
      { name: 'X25519' },
      options.extractable === true,
      ['deriveBits'],
    );
  } catch {
    throw new KeyWrapError('bad_key', 'invalid X25519 private key');
  } finally {
    pkcs8.fill(0);
  }
}

/**
 * The raw public key of an X25519 private key, computed as X25519(sk, 9) with `deriveBits` — so
 * it works on non-extractable keys (to check that a stored pair belongs together).
 */
export async function x25519PublicKeyOf(privateKey: CryptoKey): Promise<Uint8Array> {
  try {
    const base = await globalThis.crypto.subtle.importKey(
      'raw',
      bufferSource(X25519_BASE_POINT),
      { name: 'X25519' },
      true,
      [],
    );
    return new Uint8Array(
      await globalThis.crypto.subtle.deriveBits({ name: 'X25519', public: base }, privateKey, 256),
    );
  } catch {
    throw new KeyWrapError('bad_key', 'not an X25519 private key');
  }
}

/** Whether `pair`'s private key belongs to its public key (constant-time compare). */
export async function wrapKeyPairMatches(pair: WrapKeyPair): Promise<boolean> {
  try {
    const [derived, published] = await Promise.all([
      x25519PublicKeyOf(pair.privateKey),
      exportPublicKey(pair.publicKey),
    ]);
    return bytesEqualConstantTime(derived, published);
  } catch {
    return false;
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

/**
 * Opens a wrap made by `wrapKey` for the same context. Throws KeyWrapError('unwrap_failed').
 * Pass the key pair when you have it: the KEM then takes the public key from it (a bare private
 * key also works — its public key is recomputed with `deriveBits`, non-extractable or not).
 */
export async function unwrapKey(
  recipientPrivateKey: CryptoKey | WrapKeyPair,
  wrapped: Uint8Array,
  context: Uint8Array | string,
): Promise<Uint8Array> {
  if (wrapped.length <= WRAP_ENC_BYTES + WRAP_TAG_BYTES) {
    throw new KeyWrapError('bad_input', 'wrapped key too short');
  }
  const ctx = contextBytes(context);
  const recipientKey: CryptoKey | CryptoKeyPair =
    'privateKey' in recipientPrivateKey
      ? { privateKey: recipientPrivateKey.privateKey, publicKey: recipientPrivateKey.publicKey }
      : recipientPrivateKey;
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
