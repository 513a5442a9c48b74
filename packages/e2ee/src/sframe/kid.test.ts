import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SFrameContext } from './context.ts';
import { SFrameError } from './errors.ts';
import { encodeHeader } from './header.ts';
import {
  decodeKid,
  encodeKid,
  MAX_GENERATION,
  MAX_LEAF_INDEX,
  RATCHET_LABEL,
  ratchetBaseKey,
  ratchetForward,
  unwrapRatchetStep,
} from './kid.ts';
import { CipherSuiteId } from './suites.ts';

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

describe('KID layout', () => {
  test('documented bit layout: generation << 24 | step mod 256 << 16 | leaf', () => {
    assert.equal(encodeKid({ generation: 0, step: 0, leaf: 5 }), 5n);
    assert.equal(encodeKid({ generation: 1, step: 2, leaf: 3 }), 0x01_02_0003n);
    assert.equal(encodeKid({ generation: 0, step: 257, leaf: 0 }), 0x01_0000n);
    assert.equal(
      encodeKid({ generation: MAX_GENERATION, step: 255, leaf: MAX_LEAF_INDEX }),
      (1n << 64n) - 1n,
    );
    // KID size in the SFrame header for a typical stage: generation 1, leaf 3 → 4 KID bytes
    assert.equal(encodeHeader(encodeKid({ generation: 1, step: 0, leaf: 3 }), 0n).length, 5);
  });

  test('round-trips for every field value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: MAX_GENERATION }),
        fc.nat(),
        fc.integer({ min: 0, max: MAX_LEAF_INDEX }),
        (generation, step, leaf) => {
          const kid = encodeKid({ generation, step, leaf });
          assert.ok(kid >= 0n && kid < 1n << 64n);
          assert.deepEqual(decodeKid(kid), { generation, stepLow: step % 256, leaf });
        },
      ),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (kid) => {
        const d = decodeKid(kid);
        assert.equal(encodeKid({ generation: d.generation, step: d.stepLow, leaf: d.leaf }), kid);
      }),
    );
  });

  test('rejects out-of-range fields', () => {
    for (const bad of [
      { generation: -1, step: 0, leaf: 0 },
      { generation: MAX_GENERATION + 1, step: 0, leaf: 0 },
      { generation: 0, step: 0, leaf: MAX_LEAF_INDEX + 1 },
      { generation: 0, step: 0.5, leaf: 0 },
    ]) {
      assert.throws(() => encodeKid(bad), SFrameError);
    }
    assert.throws(() => decodeKid(1n << 64n), SFrameError);
  });

  test('unwrapRatchetStep recovers the full step within ±128 of the reference', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.integer({ min: -128, max: 127 }),
        (ref, delta) => {
          const step = ref + delta;
          if (step < 0) return;
          assert.equal(unwrapRatchetStep(step % 256, ref), step);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

test('old generations can be deleted in one call (grace-period cleanup)', async () => {
  const rx = new SFrameContext();
  const key = new Uint8Array(16).fill(1);
  for (const generation of [1, 2, 3]) {
    for (const leaf of [0, 1]) await rx.addDecryptionKey(encodeKid({ generation, step: 0, leaf }), key);
  }
  assert.equal(
    rx.deleteKeys((kid) => decodeKid(kid).generation < 3),
    4,
  );
  assert.deepEqual(
    rx.decryptionKids().map((k) => decodeKid(k).generation),
    [3, 3],
  );
});

describe('key ratchet', () => {
  const base = Uint8Array.from({ length: 32 }, (_, i) => i);

  test(`step n+1 = HKDF(step n, "${RATCHET_LABEL}") is derivable from step n, deterministically`, async () => {
    const s1 = await ratchetBaseKey(base);
    const s2 = await ratchetBaseKey(s1);
    assert.equal(s1.length, 32);
    assert.deepEqual(await ratchetForward(base, 2), s2);
    assert.deepEqual(await ratchetForward(s1, 1), s2);
    assert.deepEqual(await ratchetForward(base, 0), base);
    assert.notDeepEqual(s1, base);
    assert.notDeepEqual(s2, s1);
    // SHA-512 suite ratchets to Nh = 64 bytes
    assert.equal((await ratchetBaseKey(base, CipherSuiteId.AES_256_GCM_SHA512_128)).length, 64);
  });

  test('matches an independent HKDF computation (node:crypto)', async () => {
    const { hkdfSync } = await import('node:crypto');
    // the RFC 9605 §5.1 label, spelled out here rather than imported
    const expected = new Uint8Array(hkdfSync('sha256', base, new Uint8Array(0), 'SFrame 1.0 Ratchet', 32));
    assert.equal(hex(await ratchetBaseKey(base)), hex(expected));
  });

  test('a newcomer given step n cannot decrypt step n-1 frames; can follow forward', async () => {
    const leaf = 2;
    const stepKeys = [base, await ratchetBaseKey(base), await ratchetForward(base, 2)];
    const tx = new SFrameContext();
    const frames: Uint8Array[] = [];
    for (let step = 0; step < 3; step++) {
      const kid = encodeKid({ generation: 1, step, leaf });
      await tx.addEncryptionKey(kid, stepKeys[step]!);
      frames.push(await tx.encrypt(kid, Uint8Array.of(step)));
    }
    // newcomer receives step 1 only
    const rx = new SFrameContext();
    const given = stepKeys[1]!;
    await rx.addDecryptionKey(encodeKid({ generation: 1, step: 1, leaf }), given);
    await rx.addDecryptionKey(encodeKid({ generation: 1, step: 2, leaf }), await ratchetBaseKey(given));
    assert.deepEqual((await rx.decrypt(frames[1]!)).plaintext, Uint8Array.of(1));
    assert.deepEqual((await rx.decrypt(frames[2]!)).plaintext, Uint8Array.of(2));
    await assert.rejects(rx.decrypt(frames[0]!), (e) => e instanceof SFrameError && e.code === 'unknown_key');
    // and the best a newcomer can do with what it has — try its key under the old KID — fails
    const guess = new SFrameContext();
    await guess.addDecryptionKey(encodeKid({ generation: 1, step: 0, leaf }), given);
    await assert.rejects(
      guess.decrypt(frames[0]!),
      (e) => e instanceof SFrameError && e.code === 'auth_failed',
    );
  });
});
