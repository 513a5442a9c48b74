import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { MAX_UINT64 } from './header.ts';
import { sframeNonce } from './keys.ts';

/** Reference: salt XOR the 12-byte big-endian CTR, computed on one bigint. */
function referenceNonce(salt: Uint8Array, ctr: bigint): Uint8Array {
  let s = 0n;
  for (const b of salt) s = (s << 8n) | BigInt(b);
  let v = s ^ ctr;
  const out = new Uint8Array(salt.length);
  for (let i = salt.length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

test('nonce = salt XOR CTR (left-padded) for every CTR in [0, 2^64-1], both code paths', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.oneof(
        fc.bigInt({ min: 0n, max: MAX_UINT64 }),
        fc.bigInt({ min: 0n, max: 0xffffffffn }),
        fc.constantFrom(0n, 0xffffffffn, 0x100000000n, MAX_UINT64),
      ),
      (salt, ctr) => {
        assert.deepEqual(sframeNonce(salt, ctr), referenceNonce(salt, ctr));
      },
    ),
    { numRuns: 3000 },
  );
});
