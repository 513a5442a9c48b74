import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SFrameContext } from './context.ts';
import { SFrameError, type SFrameErrorCode } from './errors.ts';
import { decodeHeader } from './header.ts';
import { CipherSuiteId } from './suites.ts';

const BASE_KEY = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
const OTHER_KEY = Uint8Array.from({ length: 16 }, (_, i) => 100 + i);

async function pair(kid: bigint, suite: CipherSuiteId = CipherSuiteId.AES_128_GCM_SHA256_128) {
  const tx = new SFrameContext({ suite });
  const rx = new SFrameContext({ suite });
  await tx.addEncryptionKey(kid, BASE_KEY);
  await rx.addDecryptionKey(kid, BASE_KEY);
  return { tx, rx };
}

async function rejectsWith(p: Promise<unknown>, codes: readonly SFrameErrorCode[]): Promise<SFrameErrorCode> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof SFrameError, `expected SFrameError, got ${String(e)}`);
    assert.ok(codes.includes(e.code), `code ${e.code} not in ${codes.join(',')}`);
    return e.code;
  }
  assert.fail('expected rejection, got success');
}

describe('SFrameContext', () => {
  test('round trip with metadata; sender counters start at 0 and increase', async () => {
    const { tx, rx } = await pair(0x12345n);
    const meta = Uint8Array.of(9, 9, 9);
    for (let i = 0; i < 20; i++) {
      const pt = Uint8Array.from({ length: 80 }, (_, j) => (i + j) & 0xff);
      const frame = await tx.encrypt(0x12345n, pt, meta);
      const out = await rx.decrypt(frame, meta);
      assert.equal(out.ctr, BigInt(i));
      assert.equal(out.kid, 0x12345n);
      assert.deepEqual(out.plaintext, pt);
    }
    assert.equal(tx.nextCounter(0x12345n), 20n);
  });

  test('concurrent encrypts never share a counter', async () => {
    const { tx } = await pair(3n);
    const frames = await Promise.all(
      Array.from({ length: 200 }, () => tx.encrypt(3n, Uint8Array.of(1, 2, 3))),
    );
    const ctrs = new Set(frames.map((f) => decodeHeader(f).ctr));
    assert.equal(ctrs.size, 200);
  });

  test('replayed frames are rejected, also when decrypted concurrently', async () => {
    const { tx, rx } = await pair(1n);
    const f = await tx.encrypt(1n, Uint8Array.of(1));
    const results = await Promise.allSettled([rx.decrypt(f), rx.decrypt(f), rx.decrypt(f)]);
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) {
      if (r.status === 'rejected') assert.equal((r.reason as SFrameError).code, 'replay');
    }
    await rejectsWith(rx.decrypt(f), ['replay']);
  });

  test('frames older than the replay window are rejected; reordering inside it is fine', async () => {
    const tx = new SFrameContext();
    const rx = new SFrameContext({ replayWindow: 16 });
    await tx.addEncryptionKey(2n, BASE_KEY);
    await rx.addDecryptionKey(2n, BASE_KEY);
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 40; i++) frames.push(await tx.encrypt(2n, Uint8Array.of(i)));
    await rx.decrypt(frames[39]!);
    await rx.decrypt(frames[30]!); // reordered, inside the window
    await rejectsWith(rx.decrypt(frames[23]!), ['replay']); // 39 - 23 = 16: too old
  });

  test('forged frames do not advance the replay window', async () => {
    const { tx, rx } = await pair(1n);
    const f0 = await tx.encrypt(1n, Uint8Array.of(1));
    // a forged frame claiming CTR 10^6 with garbage ciphertext
    const forged = Uint8Array.of(0x1a, 0x0f, 0x42, 0x40, ...new Array(20).fill(7));
    await rejectsWith(rx.decrypt(forged), ['auth_failed']);
    assert.equal((await rx.decrypt(f0)).ctr, 0n);
  });

  test('empty frames are dropped on both sides', async () => {
    const { tx, rx } = await pair(1n);
    await rejectsWith(tx.encrypt(1n, new Uint8Array(0)), ['empty']);
    await rejectsWith(rx.decrypt(new Uint8Array(0)), ['empty']);
    // header + tag only (an empty plaintext, e.g. from another implementation)
    await rejectsWith(rx.decrypt(Uint8Array.of(0x10, ...new Array(16).fill(0))), ['empty']);
    await rejectsWith(rx.decrypt(Uint8Array.of(0x10, 1, 2, 3)), ['truncated']);
  });

  test('unknown KID, deleted keys, and a cancelled install', async () => {
    const { tx, rx } = await pair(5n);
    const f = await tx.encrypt(5n, Uint8Array.of(1, 2));
    assert.equal(rx.deleteKey(5n), true);
    assert.equal(rx.deleteKey(5n), false);
    await rejectsWith(rx.decrypt(f), ['unknown_key']);
    await rejectsWith(tx.encrypt(6n, Uint8Array.of(1)), ['unknown_key']);
    const install = rx.addDecryptionKey(7n, BASE_KEY);
    rx.deleteKey(7n);
    await install;
    assert.equal(rx.hasDecryptionKey(7n), false);
  });

  test('a wrong base key fails authentication', async () => {
    const tx = new SFrameContext();
    const rx = new SFrameContext();
    await tx.addEncryptionKey(9n, BASE_KEY);
    await rx.addDecryptionKey(9n, OTHER_KEY);
    await rejectsWith(rx.decrypt(await tx.encrypt(9n, Uint8Array.of(1))), ['auth_failed']);
  });

  test('metadata is authenticated', async () => {
    const { tx, rx } = await pair(1n);
    const f = await tx.encrypt(1n, Uint8Array.of(1), Uint8Array.of(1));
    await rejectsWith(rx.decrypt(f, Uint8Array.of(2)), ['auth_failed']);
    await rejectsWith(rx.decrypt(f), ['auth_failed']);
  });

  test('a KID is an encryption key or a decryption key, never both', async () => {
    const ctx = new SFrameContext();
    await ctx.addEncryptionKey(1n, BASE_KEY);
    await rejectsWith(ctx.addDecryptionKey(1n, BASE_KEY), ['invalid_argument']);
    await ctx.addDecryptionKey(2n, BASE_KEY);
    await rejectsWith(ctx.addEncryptionKey(2n, BASE_KEY), ['invalid_argument']);
  });

  test('counters survive key deletion and replacement (no nonce reuse)', async () => {
    const { tx } = await pair(4n);
    await tx.encrypt(4n, Uint8Array.of(1));
    await tx.encrypt(4n, Uint8Array.of(1));
    tx.deleteKey(4n);
    await tx.addEncryptionKey(4n, BASE_KEY);
    const f = await tx.encrypt(4n, Uint8Array.of(1));
    assert.equal(decodeHeader(f).ctr, 2n);
  });

  test('counter exhaustion is reported, not wrapped', async () => {
    const tx = new SFrameContext({ maxCounter: 2n });
    await tx.addEncryptionKey(1n, BASE_KEY);
    for (let i = 0; i < 3; i++) await tx.encrypt(1n, Uint8Array.of(i));
    await rejectsWith(tx.encrypt(1n, Uint8Array.of(9)), ['counter_exhausted']);
  });

  test('short base keys and bad options are rejected', async () => {
    const ctx = new SFrameContext();
    await rejectsWith(ctx.addEncryptionKey(1n, new Uint8Array(8)), ['invalid_argument']);
    await rejectsWith(ctx.addEncryptionKey(-1n, BASE_KEY), ['invalid_argument']);
    assert.throws(() => new SFrameContext({ suite: 0x9999 as CipherSuiteId }), SFrameError);
  });

  for (const suite of [CipherSuiteId.AES_128_GCM_SHA256_128, CipherSuiteId.AES_128_CTR_HMAC_SHA256_32]) {
    test(`fuzz (suite ${suite}): tampering any byte of a sealed frame never yields plaintext`, async () => {
      const { tx, rx } = await pair(0x1234n, suite);
      await fc.assert(
        fc.asyncProperty(
          fc.uint8Array({ minLength: 1, maxLength: 120 }),
          fc.nat(),
          fc.integer({ min: 1, max: 255 }),
          async (pt, pos, flip) => {
            const frame = await tx.encrypt(0x1234n, pt);
            const bad = frame.slice();
            const i = pos % bad.length;
            bad[i] = bad[i]! ^ flip;
            await rejectsWith(rx.decrypt(bad), [
              'auth_failed',
              'bad_header',
              'truncated',
              'unknown_key',
              'empty',
              'replay', // a flipped CTR bit can name an already-accepted counter
            ]);
            // the untampered frame still decrypts (the window was not advanced by the forgery)
            assert.deepEqual((await rx.decrypt(frame)).plaintext, pt);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  test('fuzz: random bytes never throw anything but SFrameError', async () => {
    const rx = new SFrameContext();
    for (const kid of [0n, 1n, 7n, 8n, 0x1234n, 0x1_00_0001n]) await rx.addDecryptionKey(kid, BASE_KEY);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 64 }),
          // bias toward headers naming installed KIDs, so the AEAD path is exercised
          fc
            .tuple(fc.constantFrom(0x00, 0x10, 0x70, 0x08, 0x1b), fc.uint8Array({ maxLength: 40 }))
            .map(([c, rest]) => Uint8Array.of(c, ...rest)),
        ),
        fc.uint8Array({ maxLength: 8 }),
        async (bytes, meta) => {
          try {
            await rx.decrypt(bytes, meta);
          } catch (e) {
            assert.ok(e instanceof SFrameError, `non-SFrameError: ${String(e)}`);
            return;
          }
          assert.fail('random bytes decrypted');
        },
      ),
      { numRuns: 2000 },
    );
  });
});
