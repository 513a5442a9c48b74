import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { SFrameError } from './errors.ts';
import { decodeHeader, encodeHeader, headerLength, MAX_UINT64, writeHeader } from './header.ts';

const uint64 = fc.bigInt({ min: 0n, max: MAX_UINT64 });
/** Biased toward boundaries (0-7, byte-length edges, 2^64-1) as well as uniform values. */
const edgy = fc.oneof(
  uint64,
  fc.bigInt({ min: 0n, max: 9n }),
  fc
    .integer({ min: 1, max: 8 })
    .chain((n) =>
      fc.constantFrom((1n << BigInt(8 * n)) - 1n, 1n << BigInt(8 * (n - 1)), (1n << BigInt(8 * n)) - 2n),
    ),
);

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e) => e instanceof SFrameError && e.code === code);
}

describe('SFrame header', () => {
  test('encode ∘ decode round-trips for every KID and CTR in [0, 2^64-1]', () => {
    fc.assert(
      fc.property(edgy, edgy, fc.uint8Array({ maxLength: 8 }), (kid, ctr, tail) => {
        const h = encodeHeader(kid, ctr);
        assert.equal(h.length, headerLength(kid, ctr));
        const buf = new Uint8Array(h.length + tail.length);
        buf.set(h);
        buf.set(tail, h.length);
        const d = decodeHeader(buf);
        assert.equal(d.kid, kid);
        assert.equal(d.ctr, ctr);
        assert.equal(d.length, h.length);
      }),
      { numRuns: 3000 },
    );
  });

  test('decode ∘ encode is the identity on every header the decoder accepts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 20 }), (bytes) => {
        let d: ReturnType<typeof decodeHeader>;
        try {
          d = decodeHeader(bytes);
        } catch (e) {
          assert.ok(e instanceof SFrameError, `only SFrameError, got ${String(e)}`);
          assert.ok(e.code === 'truncated' || e.code === 'bad_header', e.code);
          return;
        }
        assert.deepEqual(encodeHeader(d.kid, d.ctr), bytes.slice(0, d.length));
      }),
      { numRuns: 5000 },
    );
  });

  test('short form for values < 8, minimal big-endian otherwise', () => {
    assert.deepEqual(encodeHeader(7n, 7n), Uint8Array.of(0x77));
    assert.deepEqual(encodeHeader(8n, 0n), Uint8Array.of(0x80, 0x08));
    assert.deepEqual(encodeHeader(0n, 8n), Uint8Array.of(0x08, 0x08));
    assert.deepEqual(encodeHeader(MAX_UINT64, MAX_UINT64), Uint8Array.of(0xff, ...new Array(16).fill(0xff)));
  });

  test('rejects non-minimal encodings as bad_header', () => {
    expectCode(() => decodeHeader(Uint8Array.of(0x80, 0x05)), 'bad_header'); // KID 5 in extended form
    expectCode(() => decodeHeader(Uint8Array.of(0x08, 0x07)), 'bad_header'); // CTR 7 in extended form
    expectCode(() => decodeHeader(Uint8Array.of(0x90, 0x00, 0xff)), 'bad_header'); // KID leading zero
    expectCode(() => decodeHeader(Uint8Array.of(0x09, 0x00, 0x10)), 'bad_header'); // CTR leading zero
  });

  test('truncated input is reported as truncated', () => {
    expectCode(() => decodeHeader(new Uint8Array(0)), 'truncated');
    expectCode(() => decodeHeader(Uint8Array.of(0xff, 1, 2, 3, 4, 5, 6, 7, 8)), 'truncated');
    expectCode(() => decodeHeader(Uint8Array.of(0x8f, 0x10)), 'truncated');
  });

  test('out-of-range values are rejected on encode', () => {
    expectCode(() => encodeHeader(-1n, 0n), 'invalid_argument');
    expectCode(() => encodeHeader(0n, MAX_UINT64 + 1n), 'invalid_argument');
    expectCode(() => writeHeader(new Uint8Array(1), 0, 300n, 0n), 'invalid_argument');
  });
});
