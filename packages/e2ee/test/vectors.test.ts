/**
 * RFC 9605 test vectors (vendored from sframe-wg/sframe, see vectors/SOURCE.txt).
 *
 * Every section of both files is run; a section we do not know, or a vector whose suite we do
 * not implement, is recorded by name in `skipped`, and the final test pins both the run counts
 * and the skip list, so a changed vector file cannot silently skip anything.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import {
  CipherSuiteId,
  concatBytes,
  decodeHeader,
  decryptFrame,
  deriveKeySalt,
  deriveSFrameKey,
  encodeHeader,
  encryptFrame,
  getCipherSuite,
  importAeadKey,
  SFrameContext,
  SFrameError,
  sframeKeyLabel,
  sframeNonce,
  sframeSaltLabel,
  supportedCipherSuites,
} from '../src/index.ts';
import { fromHex, toHex } from './support/hex.ts';
import { type LosslessJson, parseLosslessJson } from './support/lossless-json.ts';

type Vector = { [k: string]: LosslessJson };

function load(name: string): { [section: string]: Vector[] } {
  const text = readFileSync(new URL(`./vectors/${name}`, import.meta.url), 'utf8');
  const json = parseLosslessJson(text);
  assert.ok(json !== null && typeof json === 'object' && !Array.isArray(json));
  const out: { [section: string]: Vector[] } = {};
  for (const [k, v] of Object.entries(json)) {
    assert.ok(Array.isArray(v), `section ${k} is an array`);
    out[k] = v as Vector[];
  }
  return out;
}

function big(v: Vector, field: string): bigint {
  const x = v[field];
  assert.equal(typeof x, 'bigint', `${field} is an integer`);
  return x as bigint;
}

function hex(v: Vector, field: string): Uint8Array<ArrayBuffer> {
  const x = v[field];
  assert.equal(typeof x, 'string', `${field} is a hex string`);
  return fromHex(x as string);
}

const main = load('test-vectors.json');
const aes256 = load('test-vectors-aes256.json');

/** Sections we run, by file, with how many vectors each must contain. */
const EXPECTED: { [file: string]: { [section: string]: number } } = {
  'test-vectors.json': { header: 289, aes_ctr_hmac: 3, aes_256_ctr_hmac: 3, sframe: 5 },
  'test-vectors-aes256.json': { sframe_aes_256_ctr_hmac: 3 },
};
/** Vectors knowingly not run (name → reason). Empty: every vector applies. */
const EXPECTED_SKIPS: string[] = [];

const ran = new Map<string, number>();
const skipped: string[] = [];
function tally(section: string): void {
  ran.set(section, (ran.get(section) ?? 0) + 1);
}

const supported = new Set<number>(supportedCipherSuites().map((s) => s.id));

describe('header vectors', () => {
  for (const v of main.header ?? []) {
    const kid = big(v, 'kid');
    const ctr = big(v, 'ctr');
    const encoded = v.encoded as string;
    test(`kid=${kid} ctr=${ctr} → ${encoded}`, () => {
      assert.equal(toHex(encodeHeader(kid, ctr)), encoded);
      const bytes = fromHex(encoded);
      const withPayload = concatBytes(bytes, new Uint8Array([0xaa, 0xbb]));
      for (const input of [bytes, withPayload]) {
        const h = decodeHeader(input);
        assert.equal(h.kid, kid);
        assert.equal(h.ctr, ctr);
        assert.equal(h.length, bytes.length);
      }
      if (bytes.length > 1) {
        assert.throws(
          () => decodeHeader(bytes.subarray(0, bytes.length - 1)),
          (e) => e instanceof SFrameError && e.code === 'truncated',
        );
      }
      tally('header');
    });
  }
});

for (const section of ['aes_ctr_hmac', 'aes_256_ctr_hmac']) {
  describe(`${section} AEAD vectors`, () => {
    for (const v of main[section] ?? []) {
      const suiteId = Number(big(v, 'cipher_suite'));
      const name = `${section} suite ${suiteId}`;
      if (!supported.has(suiteId)) {
        skipped.push(name);
        continue;
      }
      test(name, async () => {
        const s = getCipherSuite(suiteId);
        const key = hex(v, 'key');
        assert.equal(key.length, s.nk);
        assert.equal(toHex(key.subarray(0, s.nka)), v.enc_key);
        assert.equal(toHex(key.subarray(s.nka)), v.auth_key);
        const aead = await importAeadKey(s, key);
        const nonce = hex(v, 'nonce');
        const aad = hex(v, 'aad');
        const pt = hex(v, 'pt');
        const ct = hex(v, 'ct');
        assert.equal(toHex(await aead.seal(nonce, aad, pt)), v.ct);
        assert.equal(toHex(await aead.open(nonce, aad, ct)), v.pt);
        const bad = ct.slice();
        bad[bad.length - 1]! ^= 1;
        await assert.rejects(
          aead.open(nonce, aad, bad),
          (e) => e instanceof SFrameError && e.code === 'auth_failed',
        );
        await assert.rejects(
          aead.open(nonce, concatBytes(aad, new Uint8Array([0])), ct),
          (e) => e instanceof SFrameError && e.code === 'auth_failed',
        );
        tally(section);
      });
    }
  });
}

async function hkdfExtractEmptySalt(hash: 'SHA-256' | 'SHA-512', nh: number, ikm: Uint8Array<ArrayBuffer>) {
  // RFC 5869: an absent salt is HashLen zero bytes.
  const k = await crypto.subtle.importKey('raw', new Uint8Array(nh), { name: 'HMAC', hash }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, ikm));
}

const sframeSections: Array<[string, Vector[]]> = [
  ['sframe', main.sframe ?? []],
  ['sframe_aes_256_ctr_hmac', aes256.sframe_aes_256_ctr_hmac ?? []],
];
for (const [section, vectors] of sframeSections) {
  describe(`${section} vectors`, () => {
    for (const v of vectors) {
      const suiteId = Number(big(v, 'cipher_suite'));
      const name = `${section} suite ${suiteId}`;
      if (!supported.has(suiteId)) {
        skipped.push(name);
        continue;
      }
      test(name, async () => {
        const s = getCipherSuite(suiteId);
        const kid = big(v, 'kid');
        const ctr = big(v, 'ctr');
        const baseKey = hex(v, 'base_key');
        const metadata = hex(v, 'metadata');
        const pt = hex(v, 'pt');
        const ct = hex(v, 'ct');

        // key schedule
        assert.equal(toHex(sframeKeyLabel(kid, s)), v.sframe_key_label);
        assert.equal(toHex(sframeSaltLabel(kid, s)), v.sframe_salt_label);
        assert.equal(toHex(await hkdfExtractEmptySalt(s.hash, s.nh, baseKey)), v.sframe_secret);
        const { key, salt } = await deriveKeySalt(s, kid, baseKey);
        assert.equal(toHex(key), v.sframe_key);
        assert.equal(toHex(salt), v.sframe_salt);

        // nonce and AAD
        assert.equal(toHex(sframeNonce(salt, ctr)), v.nonce);
        assert.equal(toHex(concatBytes(encodeHeader(kid, ctr), metadata)), v.aad);

        // encryption / decryption (stateless layer)
        const k = await deriveSFrameKey(s, kid, baseKey);
        assert.equal(toHex(await encryptFrame(k, ctr, pt, metadata)), v.ct);
        assert.equal(toHex(await decryptFrame(k, ct, metadata)), v.pt);
        await assert.rejects(
          decryptFrame(k, ct),
          (e) => e instanceof SFrameError && e.code === 'auth_failed',
        );

        // through a receiving context, with replay protection
        const rx = new SFrameContext({ suite: s.id as CipherSuiteId });
        await rx.addDecryptionKey(kid, baseKey);
        const out = await rx.decrypt(ct, metadata);
        assert.equal(out.kid, kid);
        assert.equal(out.ctr, ctr);
        assert.equal(toHex(out.plaintext), v.pt);
        await assert.rejects(
          rx.decrypt(ct, metadata),
          (e) => e instanceof SFrameError && e.code === 'replay',
        );
        tally(section);
      });
    }
  });
}

test('vector coverage: every section known, every vector run, skips pinned', () => {
  const files: { [file: string]: { [section: string]: Vector[] } } = {
    'test-vectors.json': main,
    'test-vectors-aes256.json': aes256,
  };
  for (const [file, sections] of Object.entries(EXPECTED)) {
    assert.deepEqual(Object.keys(files[file]!).sort(), Object.keys(sections).sort(), `sections of ${file}`);
    for (const [section, count] of Object.entries(sections)) {
      assert.equal(files[file]![section]!.length, count, `${file} ${section} size`);
    }
  }
  assert.deepEqual(skipped, EXPECTED_SKIPS, 'skipped vectors');
  const expectedRuns = Object.values(EXPECTED)
    .flatMap((s) => Object.entries(s))
    .map(([section, n]) => [section, n] as const);
  for (const [section, n] of expectedRuns) assert.equal(ran.get(section) ?? 0, n, `${section} vectors run`);
  const total = [...ran.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, 303);
  // the GCM suites Sotto uses are among them
  assert.ok(
    supported.has(CipherSuiteId.AES_128_GCM_SHA256_128) &&
      supported.has(CipherSuiteId.AES_256_GCM_SHA512_128),
  );
});

test('lossless reader keeps 2^64-1 exact', () => {
  const ctrs = (main.header ?? []).map((v) => big(v, 'ctr'));
  assert.ok(ctrs.includes(18446744073709551615n), 'a header vector carries CTR 2^64-1 exactly');
  assert.ok(ctrs.includes(72057594037927936n), 'and 2^56 exactly');
  assert.deepEqual(parseLosslessJson('{"a":[18446744073709551615,-1,1.5,"7"],"b":"x\\"1"}'), {
    a: [18446744073709551615n, -1n, 1.5, '7'],
    b: 'x"1',
  });
});
