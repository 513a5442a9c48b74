import { randomBytes } from 'node:crypto';

const ALPHABET = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** Random identifier with LiveKit's prefixes (RM_, PA_, TR_). 12 chars ≈ 70 bits. */
export function newId(prefix: 'RM_' | 'PA_' | 'TR_'): string {
  const bytes = randomBytes(12);
  let out = prefix;
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

/** A random nonzero 32-bit RTP SSRC. */
export function newSsrc(): number {
  return randomBytes(4).readUInt32BE(0) || 1;
}
