/** The E2EE key directory: devices publish public keys; members carry their join's device keys. */
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { test } from 'node:test';
import type { Device, JoinRoomResponse, RoomState } from '../src/api/schemas.ts';
import { forEachBackend, withStack } from './support/each.ts';
import { assertProblem, createRoom, join } from './support/rooms.ts';

const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');

/** Real keys, as a browser would make them (Ed25519 signing + X25519 HPKE), public parts only. */
async function deviceKeys(deviceId: string) {
  const sign = (await webcrypto.subtle.generateKey('Ed25519', true, ['sign', 'verify'])) as CryptoKeyPair;
  const hpke = (await webcrypto.subtle.generateKey({ name: 'X25519' }, true, [
    'deriveBits',
  ])) as CryptoKeyPair;
  return {
    deviceId,
    signingPublicKey: b64u(new Uint8Array(await webcrypto.subtle.exportKey('raw', sign.publicKey))),
    hpkePublicKey: b64u(new Uint8Array(await webcrypto.subtle.exportKey('raw', hpke.publicKey))),
  };
}

forEachBackend('devices', (start) => {
  test('publish, re-publish and list devices; validation; auth', () =>
    withStack(start, async (s) => {
      const ada = await s.user('ada_d', 'Ada');
      const bob = await s.user('bob_d', 'Bob');
      const k1 = await deviceKeys('dev_ada_laptop');
      const r = await ada.post<Device>('/api/devices', k1);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.id, k1.deviceId);
      assert.equal(r.body.signingPublicKey, k1.signingPublicKey);
      assert.equal(r.body.hpkePublicKey, k1.hpkePublicKey);
      const k2 = await deviceKeys('dev_ada_phone');
      assert.equal((await ada.post('/api/devices', k2)).status, 200);
      // re-publishing the same id replaces its keys (the clients' TOFU store notices the change)
      const k1b = { ...(await deviceKeys('x_unused')), deviceId: k1.deviceId };
      assert.equal((await ada.post('/api/devices', k1b)).status, 200);
      const list = await bob.get<Device[]>('/api/users/ada_d/devices');
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.map((d) => [d.id, d.signingPublicKey, d.hpkePublicKey]),
        [
          [k1.deviceId, k1b.signingPublicKey, k1b.hpkePublicKey],
          [k2.deviceId, k2.signingPublicKey, k2.hpkePublicKey],
        ],
      );
      assert.deepEqual((await bob.get<Device[]>('/api/users/bob_d/devices')).body, []);
      assertProblem(await bob.get('/api/users/nobody_here/devices'), 404, 'user_not_found');
      // bad keys and ids are refused
      assertProblem(
        await ada.post('/api/devices', { ...k1, signingPublicKey: 'short' }),
        400,
        'invalid_request',
      );
      assertProblem(
        await ada.post('/api/devices', { ...k1, hpkePublicKey: `${k1.hpkePublicKey}A` }),
        400,
        'invalid_request',
      );
      assertProblem(await ada.post('/api/devices', { ...k1, deviceId: 'a b' }), 400, 'invalid_request');
      assertProblem(await ada.post('/api/devices', {}), 400, 'invalid_request');
      // signed out
      const anon = s.anonymous();
      assertProblem(await anon.post('/api/devices', k1), 401, 'unauthenticated');
      assertProblem(await anon.get('/api/users/ada_d/devices'), 401, 'unauthenticated');
    }));

  test('joining with a device puts its keys on the member; unknown or foreign devices are refused', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_d', 'Mod');
      const lis = await s.user('lis_d', 'Lis');
      const other = await s.user('oth_d', 'Other');
      const km = await deviceKeys('dev_mod_1');
      const kl = await deviceKeys('dev_lis_1');
      assert.equal((await mod.post('/api/devices', km)).status, 200);
      assert.equal((await lis.post('/api/devices', kl)).status, 200);
      const room = await createRoom(mod);
      const mj = await mod.post<JoinRoomResponse>(`/api/rooms/${room.id}/join`, { deviceId: km.deviceId });
      assert.equal(mj.status, 200, JSON.stringify(mj.body));
      assert.deepEqual(mj.body.state.me?.device, {
        id: km.deviceId,
        signingPublicKey: km.signingPublicKey,
        hpkePublicKey: km.hpkePublicKey,
      });
      // someone else's device id, or one never published: 404 device_not_found
      assertProblem(
        await other.post(`/api/rooms/${room.id}/join`, { deviceId: kl.deviceId }),
        404,
        'device_not_found',
      );
      assertProblem(
        await other.post(`/api/rooms/${room.id}/join`, { deviceId: 'dev_never_published' }),
        404,
        'device_not_found',
      );
      // without a body (older clients): device null
      const oj = await join(other, room.id);
      assert.equal(oj.state.me?.device, null);
      const lj = await lis.post<JoinRoomResponse>(`/api/rooms/${room.id}/join`, { deviceId: kl.deviceId });
      assert.equal(lj.status, 200);
      // everyone sees handle → device keys
      const view = await other.get<RoomState>(`/api/rooms/${room.id}`);
      const byUser = new Map([...view.body.stage, ...view.body.audience].map((m) => [m.user.id, m]));
      assert.equal(byUser.get(mod.id)?.device?.hpkePublicKey, km.hpkePublicKey);
      assert.equal(byUser.get(mod.id)?.handle, mj.body.handle);
      assert.equal(byUser.get(lis.id)?.device?.signingPublicKey, kl.signingPublicKey);
      assert.equal(byUser.get(other.id)?.device, null);
      // rejoining without a device clears it (the device belongs to the join, not the membership)
      const lj2 = await join(lis, room.id);
      assert.equal(lj2.state.me?.device, null);
    }));
});
