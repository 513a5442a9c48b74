import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type DeviceIdentity,
  decodeDeviceIdentity,
  decodeDeviceRef,
  encodeDeviceIdentity,
  encodeDeviceRef,
  generateDeviceIdentity,
  IdentityError,
  signEd25519,
  verifyEd25519,
} from './device.ts';
import { digitGroups, fingerprintDigits, safetyNumber } from './safety-number.ts';
import { MemoryKeyDirectory, MemoryTofuStore } from './tofu.ts';

describe('device identity', () => {
  test('canonical encoding round-trips and is strict', async () => {
    const { identity } = await generateDeviceIdentity('alice', 'laptop');
    const bytes = encodeDeviceIdentity(identity);
    assert.equal(bytes.length, 'sotto/e2ee/v1/device-identity'.length + 1 + 2 + 5 + 2 + 6 + 32 + 32);
    assert.deepEqual(decodeDeviceIdentity(bytes), identity);
    assert.throws(() => decodeDeviceIdentity(bytes.subarray(0, bytes.length - 1)), IdentityError);
    const trailing = new Uint8Array(bytes.length + 1);
    trailing.set(bytes);
    assert.throws(() => decodeDeviceIdentity(trailing), IdentityError);
    // the field boundaries are unambiguous: ("ab","c") ≠ ("a","bc")
    assert.notDeepEqual(
      encodeDeviceRef({ userId: 'ab', deviceId: 'c' }),
      encodeDeviceRef({ userId: 'a', deviceId: 'bc' }),
    );
    assert.deepEqual(decodeDeviceRef(encodeDeviceRef({ userId: 'ü', deviceId: 'd1' })), {
      userId: 'ü',
      deviceId: 'd1',
    });
    assert.throws(() => encodeDeviceRef({ userId: '', deviceId: 'd' }), IdentityError);
  });

  test('Ed25519 signatures verify with the published key only', async () => {
    const a = await generateDeviceIdentity('alice', 'd1');
    const b = await generateDeviceIdentity('bob', 'd1');
    const msg = Uint8Array.of(1, 2, 3);
    const sig = await signEd25519(a.signingKey, msg);
    assert.equal(sig.length, 64);
    assert.equal(await verifyEd25519(a.identity.signingPublicKey, msg, sig), true);
    assert.equal(await verifyEd25519(b.identity.signingPublicKey, msg, sig), false);
    assert.equal(await verifyEd25519(a.identity.signingPublicKey, Uint8Array.of(1, 2, 4), sig), false);
    assert.equal(await verifyEd25519(a.identity.signingPublicKey, msg, sig.subarray(1)), false);
  });
});

describe('safety numbers', () => {
  test('digit groups use 5-byte big-endian chunks mod 100000', () => {
    const h = new Uint8Array(30);
    h.set([0x00, 0x00, 0x01, 0x86, 0xa0], 0); // 100000 → 00000
    h.set([0x00, 0x00, 0x00, 0x30, 0x39], 5); // 12345
    h.set([0xff, 0xff, 0xff, 0xff, 0xff], 10); // 2^40-1 = 1099511627775 → 27775
    assert.deepEqual(digitGroups(h, 3), ['00000', '12345', '27775']);
  });

  test('symmetric, 60 digits in 12 groups, and changes when a key changes', async () => {
    const a = (await generateDeviceIdentity('alice', 'phone')).identity;
    const b = (await generateDeviceIdentity('bob', 'laptop')).identity;
    const ab = await safetyNumber(a, b);
    assert.equal(ab, await safetyNumber(b, a));
    assert.match(ab, /^\d{5}( \d{5}){11}$/);
    const fa = await fingerprintDigits(a);
    const fb = await fingerprintDigits(b);
    assert.equal(ab.replaceAll(' ', ''), fa < fb ? fa + fb : fb + fa);

    const bNewSigning = (await generateDeviceIdentity('bob', 'laptop')).identity;
    const b2: DeviceIdentity = { ...b, signingPublicKey: bNewSigning.signingPublicKey };
    const b3: DeviceIdentity = { ...b, hpkePublicKey: bNewSigning.hpkePublicKey };
    const b4: DeviceIdentity = { ...b, deviceId: 'laptop2' };
    const others = await Promise.all([safetyNumber(a, b2), safetyNumber(a, b3), safetyNumber(a, b4)]);
    for (const o of others) assert.notEqual(o, ab);
    // only bob's half moved
    assert.ok(others[0]!.replaceAll(' ', '').includes(fa));
  });
});

describe('trust on first use', () => {
  test('new → same → changed; a change is not remembered until trusted', async () => {
    const store = new MemoryTofuStore();
    const bob = (await generateDeviceIdentity('bob', 'laptop')).identity;
    const bobNew = { ...(await generateDeviceIdentity('bob', 'laptop')).identity };
    assert.equal(await store.check(bob), 'new');
    assert.equal(await store.check(bob), 'same');
    assert.equal(await store.check(bobNew), 'changed');
    assert.equal(await store.check(bobNew), 'changed');
    assert.equal(await store.check({ ...bob, hpkePublicKey: bobNew.hpkePublicKey }), 'changed');
    assert.equal(await store.check(bob), 'same');
    // another device of the same user is separate
    assert.equal(await store.check({ ...bobNew, deviceId: 'phone' }), 'new');
    await store.trust(bobNew);
    assert.equal(await store.check(bobNew), 'same');
    assert.equal(await store.check(bob), 'changed');
    await store.forget(bob);
    assert.equal(await store.get(bob), undefined);
    assert.equal(await store.check(bob), 'new');
  });

  test('stored identities are copies (a caller mutating its bytes changes nothing)', async () => {
    const store = new MemoryTofuStore();
    const dir = new MemoryKeyDirectory();
    const bob = (await generateDeviceIdentity('bob', 'laptop')).identity;
    const mutable = { ...bob, signingPublicKey: Uint8Array.from(bob.signingPublicKey) };
    assert.equal(await store.check(mutable), 'new');
    dir.publish(mutable);
    mutable.signingPublicKey[0]! ^= 1;
    assert.equal(await store.check(bob), 'same');
    assert.deepEqual((await dir.lookup('bob', 'laptop'))?.signingPublicKey, bob.signingPublicKey);
  });
});
