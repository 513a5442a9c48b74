/**
 * Safety numbers: a 60-digit fingerprint two people compare (in person, or over a channel they
 * trust) to check that they see each other's real device keys. Modelled on Signal's
 * "numeric fingerprint" (version 0 / 5200 iterations), over Sotto's device identity keys.
 *
 * For each party P:
 * ```
 * key_P     = signingPublicKey (32) ‖ hpkePublicKey (32)
 * stable_P  = u16 len ‖ userId ‖ u16 len ‖ deviceId          (UTF-8)
 * h_0       = SHA-512( u16 version=0 ‖ key_P ‖ stable_P )
 * h_i       = SHA-512( h_{i-1} ‖ key_P )                      i = 1 … 5199
 * digits_P  = for each of the first six 5-byte big-endian chunks c of h_5199:
 *               (c mod 100000), zero-padded to 5 digits          → 30 digits
 * ```
 * The safety number is the two 30-digit strings sorted (string order) and concatenated: 60
 * digits shown as 12 groups of 5. Sorting makes it symmetric — both sides compute the same
 * number — and any change of either party's signing or HPKE key changes it.
 *
 * The iterations make a targeted collision (a key whose fingerprint matches a victim's) cost
 * 5200× more hashing; each 30-digit half carries ~99.6 bits.
 */
import { concatBytes, utf8 } from '../sframe/bytes.ts';
import {
  type DeviceIdentity,
  ED25519_PUBLIC_KEY_BYTES,
  IdentityError,
  lengthPrefixed,
  X25519_KEY_BYTES,
} from './device.ts';

export const SAFETY_NUMBER_VERSION = 0;
export const SAFETY_NUMBER_ITERATIONS = 5200;

async function sha512(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await globalThis.crypto.subtle.digest('SHA-512', data));
}

/** Five-digit groups from 5-byte big-endian chunks of `hash` (Signal's encoding). */
export function digitGroups(hash: Uint8Array, groups: number): string[] {
  if (hash.length < groups * 5) throw new IdentityError('bad_input', 'hash too short for the digit groups');
  const out: string[] = [];
  for (let g = 0; g < groups; g++) {
    let chunk = 0;
    // 5 bytes = 40 bits: exact in a double (< 2^53)
    for (let i = 0; i < 5; i++) chunk = chunk * 256 + hash[g * 5 + i]!;
    out.push(String(chunk % 100000).padStart(5, '0'));
  }
  return out;
}

/** One party's 30 digits. */
export async function fingerprintDigits(
  identity: DeviceIdentity,
  iterations: number = SAFETY_NUMBER_ITERATIONS,
): Promise<string> {
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new IdentityError('bad_input', 'iterations must be a positive integer');
  }
  if (identity.signingPublicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new IdentityError('bad_key', 'signingPublicKey must be 32 bytes');
  }
  if (identity.hpkePublicKey.length !== X25519_KEY_BYTES) {
    throw new IdentityError('bad_key', 'hpkePublicKey must be 32 bytes');
  }
  const key = concatBytes(identity.signingPublicKey, identity.hpkePublicKey);
  const stable = lengthPrefixed(utf8(identity.userId), utf8(identity.deviceId));
  let h = await sha512(concatBytes(Uint8Array.of(0, SAFETY_NUMBER_VERSION), key, stable));
  const buf = new Uint8Array(h.length + key.length);
  buf.set(key, h.length);
  for (let i = 1; i < iterations; i++) {
    buf.set(h, 0);
    h = await sha512(buf);
  }
  return digitGroups(h, 6).join('');
}

/**
 * The safety number between two devices: 60 digits as 12 space-separated groups of 5.
 * `safetyNumber(a, b) === safetyNumber(b, a)`.
 */
export async function safetyNumber(
  a: DeviceIdentity,
  b: DeviceIdentity,
  iterations: number = SAFETY_NUMBER_ITERATIONS,
): Promise<string> {
  const [da, db] = await Promise.all([fingerprintDigits(a, iterations), fingerprintDigits(b, iterations)]);
  const joined = da <= db ? da + db : db + da;
  return joined.match(/\d{5}/g)!.join(' ');
}
