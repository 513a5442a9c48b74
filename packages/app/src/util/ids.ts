/** Random identifiers and secret hashing. Every id the app hands out is random, never sequential. */
import { createHash, randomBytes } from 'node:crypto';

/** A random id with a short type prefix, e.g. `u_…` for users. */
export function newId(prefix: string, bytes = 12): string {
  return `${prefix}_${randomBytes(bytes).toString('base64url')}`;
}

/** A secret for a cookie or token: 32 random bytes, base64url. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

/** How secrets are stored: hex SHA-256 (the secret itself is never stored). */
export function sha256(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A human-typable invite code: 10 characters of Crockford base32. */
export function newInviteCode(): string {
  const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
  const bytes = randomBytes(10);
  let out = '';
  for (const b of bytes) out += alphabet[b & 31];
  return out;
}
