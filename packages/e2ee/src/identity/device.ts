/**
 * Per-device identity keys.
 *
 * Every device (browser profile, phone, bot) holds:
 * - an Ed25519 signing key pair (WebCrypto `Ed25519`): it signs, once per stage membership, the
 *   binding of that membership's ephemeral MLS leaf signature key (`mls/credentials.ts`: ts-mls
 *   signs with raw key bytes, so the MLS key is a separate in-memory key and the device key only
 *   vouches for it), the key messages of the room's key schedule, and once a second the speaker
 *   authenticity messages (`auth/speaker-sig.ts`);
 * - an X25519 HPKE key pair (`hpke/wrap.ts`): listeners receive SFrame keys wrapped to it.
 * Both private keys are WebCrypto CryptoKeys generated *non-extractable*: a browser keeps them in
 * IndexedDB as CryptoKeys (structured clone), and no script can read their bytes. (A Node bot's
 * key file holds the bytes by nature; it imports them as non-extractable keys.)
 *
 * The public half is a `DeviceIdentity`, published through the app server's key directory.
 * Canonical encoding (`encodeDeviceIdentity`), all lengths big-endian:
 *
 * ```
 * "sotto/e2ee/v1/device-identity" 0x00
 * u16 len ‖ userId (UTF-8)   u16 len ‖ deviceId (UTF-8)
 * signingPublicKey (32, raw Ed25519)   hpkePublicKey (32, raw X25519)
 * ```
 */

import { exportPublicKey, generateWrapKeyPair, type WrapKeyPair, x25519PublicKeyOf } from '../hpke/wrap.ts';
import { bytesEqualConstantTime, concatBytes, utf8 } from '../sframe/bytes.ts';
import { ByteReader } from '../util/byte-reader.ts';

export const DEVICE_IDENTITY_LABEL = 'sotto/e2ee/v1/device-identity';
export const ED25519_PUBLIC_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;
export const X25519_KEY_BYTES = 32;
const MAX_ID_BYTES = 255;

export type IdentityErrorCode = 'bad_input' | 'bad_encoding' | 'bad_key';

export class IdentityError extends Error {
  readonly code: IdentityErrorCode;
  constructor(code: IdentityErrorCode, message?: string) {
    super(message === undefined ? `identity: ${code}` : `identity: ${code}: ${message}`);
    this.name = 'IdentityError';
    this.code = code;
  }
}

/** Who a device is: the public keys a key directory publishes for (userId, deviceId). */
export interface DeviceIdentity {
  readonly userId: string;
  readonly deviceId: string;
  /** Raw Ed25519 public key (32 bytes). */
  readonly signingPublicKey: Uint8Array;
  /** Raw X25519 public key (32 bytes) for HPKE key wraps. */
  readonly hpkePublicKey: Uint8Array;
}

/** (userId, deviceId): names a device without its keys. */
export interface DeviceRef {
  readonly userId: string;
  readonly deviceId: string;
}

/** The device's own secret keys plus its public identity. Never leaves the device. */
export interface DeviceIdentityKeys {
  readonly identity: DeviceIdentity;
  /** Ed25519 private key for WebCrypto `sign` (non-extractable). */
  readonly signingKey: CryptoKey;
  /** X25519 HPKE key pair for unwrapping SFrame keys as a listener (private key non-extractable). */
  readonly hpke: WrapKeyPair;
}

/** Application-facing lookup of published device identities (implemented by the app server). */
export interface KeyDirectory {
  lookup(userId: string, deviceId: string): Promise<DeviceIdentity | undefined>;
}

function idBytes(name: string, value: string): Uint8Array {
  const bytes = utf8(value);
  if (bytes.length === 0 || bytes.length > MAX_ID_BYTES) {
    throw new IdentityError('bad_input', `${name} must be 1-${MAX_ID_BYTES} UTF-8 bytes`);
  }
  return bytes;
}

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

/** Length-prefixed (u16) concatenation: unambiguous for any field contents. */
export function lengthPrefixed(...fields: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concatBytes(...fields.flatMap((f) => [u16(f.length), f]));
}

function checkKey(name: string, key: Uint8Array, length: number): void {
  if (!(key instanceof Uint8Array) || key.length !== length) {
    throw new IdentityError('bad_key', `${name} must be ${length} bytes`);
  }
}

/** Canonical bytes of a device's (userId, deviceId) — also the MLS basic credential identity. */
export function encodeDeviceRef(ref: DeviceRef): Uint8Array<ArrayBuffer> {
  return concatBytes(
    utf8('sotto/e2ee/v1/device'),
    Uint8Array.of(0),
    lengthPrefixed(idBytes('userId', ref.userId), idBytes('deviceId', ref.deviceId)),
  );
}

/** Strict inverse of `encodeDeviceRef` (rejects other labels and trailing bytes). */
export function decodeDeviceRef(bytes: Uint8Array): DeviceRef {
  const r = new ByteReader(bytes, (detail) => new IdentityError('bad_encoding', detail));
  r.expect(concatBytes(utf8('sotto/e2ee/v1/device'), Uint8Array.of(0)));
  const userId = r.text('userId', MAX_ID_BYTES);
  const deviceId = r.text('deviceId', MAX_ID_BYTES);
  r.end();
  return { userId, deviceId };
}

export function encodeDeviceIdentity(identity: DeviceIdentity): Uint8Array<ArrayBuffer> {
  checkKey('signingPublicKey', identity.signingPublicKey, ED25519_PUBLIC_KEY_BYTES);
  checkKey('hpkePublicKey', identity.hpkePublicKey, X25519_KEY_BYTES);
  return concatBytes(
    utf8(DEVICE_IDENTITY_LABEL),
    Uint8Array.of(0),
    lengthPrefixed(idBytes('userId', identity.userId), idBytes('deviceId', identity.deviceId)),
    identity.signingPublicKey,
    identity.hpkePublicKey,
  );
}

export function decodeDeviceIdentity(bytes: Uint8Array): DeviceIdentity {
  const r = new ByteReader(bytes, (detail) => new IdentityError('bad_encoding', detail));
  r.expect(concatBytes(utf8(DEVICE_IDENTITY_LABEL), Uint8Array.of(0)));
  const userId = r.text('userId', MAX_ID_BYTES);
  const deviceId = r.text('deviceId', MAX_ID_BYTES);
  const signingPublicKey = Uint8Array.from(r.take(ED25519_PUBLIC_KEY_BYTES));
  const hpkePublicKey = Uint8Array.from(r.take(X25519_KEY_BYTES));
  r.end();
  return { userId, deviceId, signingPublicKey, hpkePublicKey };
}

/**
 * Creates a device's identity: fresh Ed25519 signing and X25519 HPKE key pairs, both private keys
 * non-extractable.
 */
export async function generateDeviceIdentity(userId: string, deviceId: string): Promise<DeviceIdentityKeys> {
  idBytes('userId', userId);
  idBytes('deviceId', deviceId);
  const [signing, hpke] = await Promise.all([generateSigningKeyPair(), generateWrapKeyPair()]);
  return {
    identity: {
      userId,
      deviceId,
      signingPublicKey: signing.publicKey,
      hpkePublicKey: await exportPublicKey(hpke.publicKey),
    },
    signingKey: signing.privateKey,
    hpke,
  };
}

/** A fresh Ed25519 key pair: the private key non-extractable (sign only), the public key raw. */
export async function generateSigningKeyPair(): Promise<{ privateKey: CryptoKey; publicKey: Uint8Array }> {
  const subtle = globalThis.crypto.subtle;
  let pair: CryptoKeyPair;
  try {
    pair = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  } catch {
    throw new IdentityError('bad_key', 'this runtime has no WebCrypto Ed25519');
  }
  return {
    privateKey: pair.privateKey,
    publicKey: new Uint8Array(await subtle.exportKey('raw', pair.publicKey)),
  };
}

/** Imports a PKCS#8 Ed25519 private key, e.g. from a bot's key file (non-extractable, sign only). */
export async function importSigningKey(pkcs8: Uint8Array): Promise<CryptoKey> {
  try {
    return await globalThis.crypto.subtle.importKey(
      'pkcs8',
      Uint8Array.from(pkcs8),
      { name: 'Ed25519' },
      false,
      ['sign'],
    );
  } catch {
    throw new IdentityError('bad_key', 'invalid Ed25519 PKCS#8 private key');
  }
}

const verifyKeyCache = new Map<string, Promise<CryptoKey>>();

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

/** Imports a raw Ed25519 public key for `verify` (cached: rosters verify the same keys often). */
export function importVerifyKey(raw: Uint8Array): Promise<CryptoKey> {
  checkKey('Ed25519 public key', raw, ED25519_PUBLIC_KEY_BYTES);
  const id = hex(raw);
  let p = verifyKeyCache.get(id);
  if (p === undefined) {
    p = globalThis.crypto.subtle
      .importKey('raw', Uint8Array.from(raw), { name: 'Ed25519' }, false, ['verify'])
      .catch(() => {
        verifyKeyCache.delete(id);
        throw new IdentityError('bad_key', 'invalid Ed25519 public key');
      });
    if (verifyKeyCache.size >= 1024) verifyKeyCache.clear();
    verifyKeyCache.set(id, p);
  }
  return p;
}

export async function signEd25519(key: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(
    await globalThis.crypto.subtle.sign({ name: 'Ed25519' }, key, Uint8Array.from(message)),
  );
}

/** Verifies an Ed25519 signature; false (never a throw) for malformed keys or signatures. */
export async function verifyEd25519(
  publicKey: Uint8Array | CryptoKey,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (signature.length !== ED25519_SIGNATURE_BYTES) return false;
  try {
    const key = publicKey instanceof Uint8Array ? await importVerifyKey(publicKey) : publicKey;
    return await globalThis.crypto.subtle.verify(
      { name: 'Ed25519' },
      key,
      Uint8Array.from(signature),
      Uint8Array.from(message),
    );
  } catch {
    return false;
  }
}

export function deviceKey(ref: DeviceRef): string {
  return `${ref.userId.length}:${ref.userId}/${ref.deviceId}`;
}

/**
 * Whether stored device keys belong together: the signing key signs a random challenge that
 * `signingPublicKey` verifies, and the HPKE private key's X25519 public key — and the pair's
 * public key — are `hpkePublicKey`. Works on non-extractable keys; false (never a throw) for
 * anything malformed.
 */
export async function deviceKeysMatch(keys: {
  readonly signingKey: CryptoKey;
  readonly signingPublicKey: Uint8Array;
  readonly hpke: WrapKeyPair;
  readonly hpkePublicKey: Uint8Array;
}): Promise<boolean> {
  try {
    const challenge = globalThis.crypto.getRandomValues(new Uint8Array(32));
    const signature = await signEd25519(keys.signingKey, challenge);
    const [signs, derived, paired] = await Promise.all([
      verifyEd25519(keys.signingPublicKey, challenge, signature),
      x25519PublicKeyOf(keys.hpke.privateKey),
      exportPublicKey(keys.hpke.publicKey),
    ]);
    return (
      signs &&
      bytesEqualConstantTime(derived, keys.hpkePublicKey) &&
      bytesEqualConstantTime(paired, keys.hpkePublicKey)
    );
  } catch {
    return false;
  }
}
