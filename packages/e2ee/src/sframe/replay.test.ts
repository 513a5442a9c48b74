import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ReplayWindow } from './replay.ts';

test('replay window: duplicates and too-old counters rejected, reordering within the window accepted', () => {
  const w = new ReplayWindow(128);
  assert.equal(w.commit(0n), 'ok');
  assert.equal(w.commit(0n), 'duplicate');
  assert.equal(w.commit(200n), 'ok');
  assert.equal(w.commit(72n), 'too_old'); // 200 - 72 = 128 ≥ window
  assert.equal(w.commit(73n), 'ok'); // oldest still inside
  assert.equal(w.commit(73n), 'duplicate');
  assert.equal(w.commit(199n), 'ok');
  assert.equal(w.check(199n), 'duplicate');
  assert.equal(w.commit(2n ** 64n - 1n), 'ok');
  assert.equal(w.check(200n), 'too_old');
  assert.equal(w.highestAccepted, 2n ** 64n - 1n);
});

test('replay window agrees with a reference model on random counter sequences', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 64 }),
      fc.array(fc.bigInt({ min: 0n, max: 300n }), { maxLength: 200 }),
      (size, ctrs) => {
        const w = new ReplayWindow(size);
        const seen = new Set<bigint>();
        let highest = -1n;
        for (const c of ctrs) {
          let expected: string;
          if (c > highest) expected = 'ok';
          else if (highest - c >= BigInt(size)) expected = 'too_old';
          else expected = seen.has(c) ? 'duplicate' : 'ok';
          assert.equal(w.commit(c), expected, `ctr ${c}`);
          if (expected === 'ok') {
            seen.add(c);
            if (c > highest) highest = c;
          }
        }
      },
    ),
    { numRuns: 500 },
  );
});

test('replay window rejects absurd sizes', () => {
  assert.throws(() => new ReplayWindow(0), RangeError);
  assert.throws(() => new ReplayWindow(1.5), RangeError);
});
