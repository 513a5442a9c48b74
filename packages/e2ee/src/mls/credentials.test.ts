// The MLS credential binding (credentials.ts): a device key vouches for an ephemeral MLS leaf key
// in one room; every way of getting that wrong is refused with its own verdict, and no encoding —
// truncated, extended, garbage, another version — is ever accepted or makes the check throw.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Credential } from 'ts-mls';
import { type DeviceIdentityKeys, encodeDeviceRef, generateDeviceIdentity } from '../identity/device.ts';
import { MemoryKeyDirectory } from '../identity/tofu.ts';
import { concatBytes, utf8 } from '../sframe/bytes.ts';
import {
  BINDING_LABEL,
  bindingStatement,
  CREDENTIAL_LABEL,
  CredentialDecodeError,
  type CredentialVerdict,
  checkCredential,
  createDeviceCredential,
  credentialDevice,
  credentialInfo,
  decodeDeviceCredential,
  directoryAuthService,
  encodeDeviceCredential,
  MAX_BINDING_LIFETIME_SECONDS,
} from './credentials.ts';

const ROOM = 'room-1';
const NOW = 1_800_000_000;
const NOT_AFTER = NOW + 3600;

async function leafKey(): Promise<Uint8Array> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  return new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
}

async function setup() {
  const dir = new MemoryKeyDirectory();
  const alice = await generateDeviceIdentity('alice', 'laptop');
  dir.publish(alice.identity);
  const leaf = await leafKey();
  const credential = await createDeviceCredential(alice, leaf, ROOM, NOT_AFTER);
  const check = (c: Credential, key = leaf, room = ROOM, at?: number) =>
    checkCredential(dir, c, key, at === undefined ? { room } : { room, checkLifetimeAt: at });
  return { dir, alice, leaf, credential, check };
}

function basic(identity: Uint8Array): Credential {
  return { credentialType: 'basic', identity };
}

describe('MLS credential binding', () => {
  test('layout: label, version, ids, device key, room, notAfter, signature; strict round trip', async () => {
    const { alice, credential } = await setup();
    assert.equal(credential.credentialType, 'basic');
    const bytes = credential.credentialType === 'basic' ? credential.identity : new Uint8Array();
    const expectedLength =
      CREDENTIAL_LABEL.length + 1 + 1 + (2 + 5) + (2 + 6) + 32 + (2 + ROOM.length) + 8 + 64;
    assert.equal(bytes.length, expectedLength);
    const decoded = decodeDeviceCredential(bytes);
    assert.deepEqual(
      { ...decoded, signature: undefined },
      {
        userId: 'alice',
        deviceId: 'laptop',
        devicePublicKey: alice.identity.signingPublicKey,
        room: ROOM,
        notAfter: NOT_AFTER,
        signature: undefined,
      },
    );
    assert.equal(decoded.signature.length, 64);
    assert.deepEqual(encodeDeviceCredential(decoded), bytes);
    assert.deepEqual(credentialDevice(credential), { userId: 'alice', deviceId: 'laptop' });
    assert.equal(credentialInfo(credential)?.room, ROOM);
    // the signed statement is domain-separated and starts with the binding label
    const statement = bindingStatement(Uint8Array.of(1, 2), Uint8Array.of(3));
    assert.deepEqual(statement, concatBytes(utf8(BINDING_LABEL), Uint8Array.of(0, 0, 2, 1, 2, 3)));
  });

  test('a genuine binding is accepted, by checkCredential and by the AuthenticationService', async () => {
    const { dir, leaf, credential, check } = await setup();
    assert.equal(await check(credential), 'ok');
    assert.equal(await check(credential, leaf, ROOM, NOW), 'ok');
    const rejected: CredentialVerdict[] = [];
    const auth = directoryAuthService(dir, ROOM, (_d, v) => rejected.push(v));
    assert.equal(await auth.validateCredential(credential, leaf), true);
    assert.equal(await auth.validateCredential(credential, await leafKey()), false);
    assert.deepEqual(rejected, ['bad_binding']);
  });

  test('wrong device key: signed by another key, or naming a key the directory does not publish', async () => {
    const { dir, alice, leaf, check } = await setup();
    const mallory = await generateDeviceIdentity('mallory', 'd1');
    // Alice's ids and published key, but Mallory's key signs
    const signedByOther = await createDeviceCredential(
      { identity: alice.identity, signingKey: mallory.signingKey },
      leaf,
      ROOM,
      NOT_AFTER,
    );
    assert.equal(await check(signedByOther), 'bad_binding');
    // Alice's ids with Mallory's key (consistently signed by it)
    const otherKey: DeviceIdentityKeys = {
      ...mallory,
      identity: { ...mallory.identity, userId: 'alice', deviceId: 'laptop' },
    };
    assert.equal(await check(await createDeviceCredential(otherKey, leaf, ROOM, NOT_AFTER)), 'key_mismatch');
    // the directory rotated Alice's key: her old bindings stop working
    const genuine = await createDeviceCredential(alice, leaf, ROOM, NOT_AFTER);
    dir.publish({ ...alice.identity, signingPublicKey: mallory.identity.signingPublicKey });
    assert.equal(await check(genuine), 'key_mismatch');
  });

  test('a binding for another leaf key, or another room, is refused', async () => {
    const { credential, check } = await setup();
    assert.equal(await check(credential, await leafKey()), 'bad_binding');
    assert.equal(await check(credential, new Uint8Array(0)), 'bad_binding');
    assert.equal(await check(credential, undefined, 'room-2'), 'wrong_room');
  });

  test('unknown devices and an unreachable directory fail closed', async () => {
    const { dir, leaf } = await setup();
    const bob = await generateDeviceIdentity('bob', 'phone'); // never published
    const c = await createDeviceCredential(bob, leaf, ROOM, NOT_AFTER);
    assert.equal(await checkCredential(dir, c, leaf, { room: ROOM }), 'unknown_device');
    const broken = {
      lookup: async () => {
        throw new Error('directory down');
      },
    };
    assert.equal(await checkCredential(broken, c, leaf, { room: ROOM }), 'unknown_device');
    // a directory answering for another device than asked
    const liar = { lookup: async () => ({ ...bob.identity, deviceId: 'other' }) };
    assert.equal(await checkCredential(liar, c, leaf, { room: ROOM }), 'unknown_device');
  });

  test('any change to the signed fields breaks the binding', async () => {
    const { credential, check } = await setup();
    const bytes = credential.credentialType === 'basic' ? credential.identity : new Uint8Array();
    const decoded = decodeDeviceCredential(bytes);
    // a later notAfter (re-encoded, so it still decodes)
    const extended = encodeDeviceCredential({ ...decoded, notAfter: decoded.notAfter + 1 });
    assert.equal(await check(basic(extended)), 'bad_binding');
    // every signature bit matters
    for (const i of [0, 31, 63]) {
      const flipped = Uint8Array.from(bytes);
      flipped[bytes.length - 64 + i]! ^= 0x01;
      assert.equal(await check(basic(flipped)), 'bad_binding');
    }
    // another device name under the same signature
    const renamed = encodeDeviceCredential({ ...decoded, deviceId: 'laptoq' });
    assert.equal(await check(basic(renamed)), 'unknown_device');
  });

  test('lifetime is enforced only when asked (a leaf being added): expired, too long', async () => {
    const { alice, leaf, check } = await setup();
    const c = await createDeviceCredential(alice, leaf, ROOM, NOT_AFTER);
    assert.equal(await check(c, leaf, ROOM, NOT_AFTER), 'ok');
    assert.equal(await check(c, leaf, ROOM, NOT_AFTER + 1), 'expired');
    assert.equal(await check(c), 'ok', 'not checked for leaves already in the tree');
    const long = await createDeviceCredential(alice, leaf, ROOM, NOW + MAX_BINDING_LIFETIME_SECONDS + 1);
    assert.equal(await check(long, leaf, ROOM, NOW), 'lifetime_too_long');
    assert.equal(await check(long, leaf, ROOM, NOW + 1), 'ok');
  });

  test('truncated, extended and garbage encodings, other versions and credential types', async () => {
    const { alice, credential, check } = await setup();
    const bytes = credential.credentialType === 'basic' ? credential.identity : new Uint8Array();
    // every truncation
    for (let n = 0; n < bytes.length; n++) {
      assert.equal(await check(basic(bytes.subarray(0, n))), 'bad_encoding', `truncated to ${n}`);
    }
    assert.equal(await check(basic(concatBytes(bytes, Uint8Array.of(0)))), 'bad_encoding', 'trailing byte');
    // bad lengths and UTF-8 in the ids
    const at = CREDENTIAL_LABEL.length + 2; // userId's u16 length
    const longer = Uint8Array.from(bytes);
    longer[at + 1] = 200; // claims 200 bytes
    assert.equal(await check(basic(longer)), 'bad_encoding');
    const empty = concatBytes(bytes.subarray(0, at), Uint8Array.of(0, 0), bytes.subarray(at + 2 + 5));
    assert.equal(await check(basic(empty)), 'bad_encoding');
    const notUtf8 = Uint8Array.from(bytes);
    notUtf8[at + 2] = 0xff;
    assert.equal(await check(basic(notUtf8)), 'bad_encoding');
    // notAfter beyond 2^53
    const huge = Uint8Array.from(bytes);
    huge[bytes.length - 64 - 8] = 0xff;
    assert.equal(await check(basic(huge)), 'bad_encoding');
    // another version, and the device-reference identity used before bindings
    const v2 = Uint8Array.from(bytes);
    v2[CREDENTIAL_LABEL.length + 1] = 2;
    assert.equal(await check(basic(v2)), 'unsupported_version');
    assert.equal(await check(basic(encodeDeviceRef(alice.identity))), 'unsupported_version');
    assert.throws(
      () => decodeDeviceCredential(v2),
      (e: unknown) => e instanceof CredentialDecodeError && e.verdict === 'unsupported_version',
    );
    // not a basic credential
    const x509: Credential = { credentialType: 'x509', certificates: [bytes] };
    assert.equal(await check(x509), 'not_sotto_credential');
    assert.equal(credentialDevice(x509), undefined);
    assert.equal(credentialDevice(basic(bytes.subarray(1))), undefined);
    // random bytes, and random edits of a genuine credential: never accepted, never a throw
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (garbage) => {
        const v = await check(basic(garbage));
        return v === 'bad_encoding' || v === 'unsupported_version';
      }),
      { numRuns: 200 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), async (i, x) => {
        const edited = Uint8Array.from(bytes);
        edited[i]! ^= x;
        return (await check(basic(edited))) !== 'ok';
      }),
      { numRuns: 200 },
    );
  });
});
