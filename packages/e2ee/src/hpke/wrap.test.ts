import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Aes128Gcm, CipherSuite, HkdfSha256 } from '@hpke/core';
import { DhkemX25519HkdfSha256 as PureJsX25519 } from '@hpke/dhkem-x25519';
import { concatBytes } from '../sframe/bytes.ts';
import { createListenerKek, KEK_BYTES, kekUnwrap, kekWrap, kekWrapMany, openListenerKek } from './kek.ts';
import {
  deriveWrapKeyPair,
  exportPrivateKey,
  exportPublicKey,
  generateWrapKeyPair,
  hpkeSuite,
  importPrivateKey,
  importPublicKey,
  KeyWrapError,
  keyWrapContext,
  unwrapKey,
  WRAP_ENC_BYTES,
  WRAP_INFO_LABEL,
  WRAP_TAG_BYTES,
  wrapInfo,
  wrapKey,
  wrapKeyPairMatches,
  x25519PublicKeyOf,
} from './wrap.ts';

const KEY = Uint8Array.from({ length: 32 }, (_, i) => 200 - i);
const ctx = (roomId: string, generation: number, purpose = 'sframe-base-key') =>
  keyWrapContext({ purpose, roomId, generation });

function isWrapError(code: string) {
  return (e: unknown) => e instanceof KeyWrapError && e.code === code;
}

describe('HPKE key wrap', () => {
  test('round trip; size is enc + key + tag', async () => {
    const listener = await generateWrapKeyPair();
    const wrapped = await wrapKey(listener.publicKey, KEY, ctx('room-a', 1));
    assert.equal(wrapped.length, WRAP_ENC_BYTES + KEY.length + WRAP_TAG_BYTES);
    assert.deepEqual(await unwrapKey(listener, wrapped, ctx('room-a', 1)), KEY);
    assert.deepEqual(await unwrapKey(listener.privateKey, wrapped, ctx('room-a', 1)), KEY);
  });

  test('two wraps of the same key differ (fresh ephemeral each time)', async () => {
    const listener = await generateWrapKeyPair();
    const a = await wrapKey(listener.publicKey, KEY, 'c');
    const b = await wrapKey(listener.publicKey, KEY, 'c');
    assert.notDeepEqual(a, b);
  });

  test('wrong recipient fails', async () => {
    const alice = await generateWrapKeyPair();
    const mallory = await generateWrapKeyPair();
    const wrapped = await wrapKey(alice.publicKey, KEY, ctx('room-a', 1));
    await assert.rejects(unwrapKey(mallory, wrapped, ctx('room-a', 1)), isWrapError('unwrap_failed'));
  });

  test('wrong context fails: other room, other generation, other purpose', async () => {
    const listener = await generateWrapKeyPair();
    const wrapped = await wrapKey(listener.publicKey, KEY, ctx('room-a', 1));
    for (const other of [
      ctx('room-b', 1),
      ctx('room-a', 2),
      ctx('room-a', 1, 'listener-kek'),
      new Uint8Array(0),
    ]) {
      await assert.rejects(unwrapKey(listener, wrapped, other), isWrapError('unwrap_failed'));
    }
  });

  test('the context is bound in the HPKE key schedule (info), not only in the AAD', async () => {
    const listener = await generateWrapKeyPair();
    const a = ctx('room-a', 1);
    const b = ctx('room-b', 1);
    // a wrap whose info names room A but whose AAD names room B must not open as room B
    const { enc, ct } = await hpkeSuite().seal(
      { recipientPublicKey: listener.publicKey, info: wrapInfo(a) },
      KEY,
      b,
    );
    const forged = concatBytes(new Uint8Array(enc), new Uint8Array(ct));
    await assert.rejects(unwrapKey(listener, forged, b), isWrapError('unwrap_failed'));
    assert.deepEqual(
      wrapInfo('x').subarray(0, WRAP_INFO_LABEL.length),
      new TextEncoder().encode(WRAP_INFO_LABEL),
    );
  });

  test('context encoding is unambiguous (length-prefixed fields)', () => {
    assert.notDeepEqual(
      keyWrapContext({ purpose: 'a', roomId: 'b1', generation: 2 }),
      keyWrapContext({ purpose: 'a', roomId: 'b', generation: 12 }),
    );
    assert.deepEqual(
      keyWrapContext({ purpose: 'p', roomId: 'r', generation: 5n }),
      keyWrapContext({ purpose: 'p', roomId: 'r', generation: 5 }),
    );
  });

  test('tampered wraps fail', async () => {
    const listener = await generateWrapKeyPair();
    const wrapped = await wrapKey(listener.publicKey, KEY, 'ctx');
    for (const i of [0, 31, 32, wrapped.length - 1]) {
      const bad = wrapped.slice();
      bad[i] = bad[i]! ^ 0x01;
      await assert.rejects(unwrapKey(listener, bad, 'ctx'), isWrapError('unwrap_failed'));
    }
    await assert.rejects(unwrapKey(listener, wrapped.subarray(0, 48), 'ctx'), isWrapError('bad_input'));
  });

  test('raw public/private key export and import (an extractable pair, as for a key file)', async () => {
    const listener = await generateWrapKeyPair({ extractable: true });
    const rawPub = await exportPublicKey(listener.publicKey);
    const rawPriv = await exportPrivateKey(listener.privateKey);
    assert.equal(rawPub.length, 32);
    assert.equal(rawPriv.length, 32);
    const wrapped = await wrapKey(rawPub, KEY, 'ctx'); // wrap straight to raw bytes
    const wrapped2 = await wrapKey(await importPublicKey(rawPub), KEY, 'ctx');
    const priv = await importPrivateKey(rawPriv);
    assert.equal(priv.extractable, false, 'imported non-extractable by default');
    assert.deepEqual(await unwrapKey(priv, wrapped, 'ctx'), KEY);
    assert.deepEqual(await unwrapKey(priv, wrapped2, 'ctx'), KEY);
    assert.deepEqual(await x25519PublicKeyOf(priv), rawPub);
    assert.equal(await wrapKeyPairMatches({ privateKey: priv, publicKey: listener.publicKey }), true);
    const other = await generateWrapKeyPair();
    assert.equal(await wrapKeyPairMatches({ privateKey: priv, publicKey: other.publicKey }), false);
    await assert.rejects(importPublicKey(new Uint8Array(31)), isWrapError('bad_key'));
    await assert.rejects(importPrivateKey(new Uint8Array(31)), isWrapError('bad_key'));
  });

  test('a device key pair is non-extractable WebCrypto X25519, and opens wraps as a pair or alone', async () => {
    const listener = await generateWrapKeyPair();
    assert.ok(listener.privateKey instanceof CryptoKey);
    assert.equal(listener.privateKey.algorithm.name, 'X25519');
    assert.equal(listener.privateKey.extractable, false);
    assert.deepEqual(listener.privateKey.usages, ['deriveBits']);
    for (const format of ['pkcs8', 'jwk', 'raw'] as const) {
      await assert.rejects(crypto.subtle.exportKey(format, listener.privateKey), `${format} export refused`);
    }
    await assert.rejects(exportPrivateKey(listener.privateKey), isWrapError('bad_key'));
    const wrapped = await wrapKey(await exportPublicKey(listener.publicKey), KEY, ctx('room-a', 1));
    assert.deepEqual(await unwrapKey(listener, wrapped, ctx('room-a', 1)), KEY);
    // a bare private key: the KEM recomputes the public key (deriveBits), no export needed
    assert.deepEqual(await unwrapKey(listener.privateKey, wrapped, ctx('room-a', 1)), KEY);
    // it survives structured clone (how IndexedDB stores it) and still works
    const cloned = structuredClone(listener);
    assert.equal(cloned.privateKey.extractable, false);
    assert.deepEqual(await unwrapKey(cloned, wrapped, ctx('room-a', 1)), KEY);
  });

  test('same wire format as the pure-JS @hpke/dhkem-x25519 KEM (interoperates both ways)', async () => {
    const pureJs = new CipherSuite({ kem: new PureJsX25519(), kdf: new HkdfSha256(), aead: new Aes128Gcm() });
    const context = ctx('room-a', 3);
    // pure-JS sender → our non-extractable WebCrypto key
    const listener = await generateWrapKeyPair();
    const pub = await pureJs.kem.deserializePublicKey(await exportPublicKey(listener.publicKey));
    const { enc, ct } = await pureJs.seal({ recipientPublicKey: pub, info: wrapInfo(context) }, KEY, context);
    assert.deepEqual(
      await unwrapKey(listener, concatBytes(new Uint8Array(enc), new Uint8Array(ct)), context),
      KEY,
    );
    // our wrap → a pure-JS recipient
    const old = await pureJs.kem.generateKeyPair();
    const wrapped = await wrapKey(
      new Uint8Array(await pureJs.kem.serializePublicKey(old.publicKey)),
      KEY,
      context,
    );
    const opened = await pureJs.open(
      { recipientKey: old, enc: wrapped.slice(0, WRAP_ENC_BYTES), info: wrapInfo(context) },
      wrapped.slice(WRAP_ENC_BYTES),
      context,
    );
    assert.deepEqual(new Uint8Array(opened), KEY);
  });

  test('deterministic key pairs from a seed', async () => {
    const seed = new Uint8Array(32).fill(3);
    const a = await deriveWrapKeyPair(seed);
    const b = await deriveWrapKeyPair(seed);
    assert.deepEqual(await exportPublicKey(a.publicKey), await exportPublicKey(b.publicKey));
    await assert.rejects(deriveWrapKeyPair(new Uint8Array(16)), isWrapError('bad_input'));
  });
});

describe('listener KEKs (per-rotation fan-out)', () => {
  test('KEK established by one HPKE wrap, then rotations wrap with AES-GCM', async () => {
    const listener = await generateWrapKeyPair();
    const setup = keyWrapContext({ purpose: 'listener-kek', roomId: 'room-a', generation: 0 });
    const sent = await createListenerKek(await exportPublicKey(listener.publicKey), setup);
    assert.equal(sent.wrapped.length, WRAP_ENC_BYTES + KEK_BYTES + WRAP_TAG_BYTES);
    const received = await openListenerKek(listener, sent.wrapped, setup);

    const rotation = ctx('room-a', 7);
    const w = await kekWrap(sent.key, KEY, rotation);
    assert.equal(w.length, 12 + 32 + 16);
    assert.deepEqual(await kekUnwrap(received.key, w, rotation), KEY);
    await assert.rejects(kekUnwrap(received.key, w, ctx('room-a', 8)), isWrapError('unwrap_failed'));
    await assert.rejects(kekUnwrap(received.key, w, ctx('room-b', 7)), isWrapError('unwrap_failed'));
  });

  test('kekWrapMany: one wrap per KEK, in order, each opening only with its own KEK', async () => {
    const pairs = await Promise.all(Array.from({ length: 5 }, () => generateWrapKeyPair()));
    const sent = await Promise.all(pairs.map((p) => createListenerKek(p.publicKey, 'setup')));
    const got = await Promise.all(pairs.map((p, i) => openListenerKek(p, sent[i]!.wrapped, 'setup')));
    const wraps = await kekWrapMany(
      sent.map((k) => k.key),
      KEY,
      'rot',
      2,
    );
    assert.equal(wraps.length, 5);
    for (let i = 0; i < 5; i++) {
      assert.deepEqual(await kekUnwrap(got[i]!.key, wraps[i]!, 'rot'), KEY);
      await assert.rejects(kekUnwrap(got[(i + 1) % 5]!.key, wraps[i]!, 'rot'), isWrapError('unwrap_failed'));
    }
  });

  test("another listener's KEK cannot open the wrap", async () => {
    const a = await generateWrapKeyPair();
    const b = await generateWrapKeyPair();
    const kekA = await createListenerKek(a.publicKey, 'setup');
    const kekB = await openListenerKek(b, (await createListenerKek(b.publicKey, 'setup')).wrapped, 'setup');
    const w = await kekWrap(kekA.key, KEY, 'rot');
    await assert.rejects(kekUnwrap(kekB.key, w, 'rot'), isWrapError('unwrap_failed'));
    await assert.rejects(openListenerKek(b, kekA.wrapped, 'setup'), isWrapError('unwrap_failed'));
  });
});
