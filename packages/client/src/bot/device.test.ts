// A bot's key file (device.ts): the file holds the key bytes (that is what a key file is), the
// device made from it holds only non-extractable CryptoKeys that work (sign for the published key,
// open HPKE wraps to it); a broken or mismatched file is a typed DeviceFileError, never a crash.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { unwrapKey, verifyEd25519, wrapKey } from '@sotto/e2ee';
import { fromB64u, toB64u } from '../e2ee/b64.ts';
import {
  createDeviceFile,
  type DeviceFile,
  DeviceFileError,
  deviceFromFile,
  parseDeviceFile,
} from './device.ts';

function isFileError(code: string) {
  return (e: unknown) => e instanceof DeviceFileError && e.code === code;
}

describe('bot device key file', () => {
  test('a new key file round-trips through JSON into a working device with non-extractable keys', async () => {
    const file = parseDeviceFile(JSON.stringify(await createDeviceFile()));
    assert.equal(file.v, 1);
    assert.equal(fromB64u(file.hpkePrivateKey).length, 32);
    const device = await deviceFromFile(file, 'u_bot');
    assert.equal(device.userId, 'u_bot');
    assert.equal(device.deviceId, file.deviceId);
    assert.equal(device.signingKey.extractable, false);
    assert.equal(device.hpke.privateKey.extractable, false);
    await assert.rejects(crypto.subtle.exportKey('pkcs8', device.signingKey));
    await assert.rejects(crypto.subtle.exportKey('pkcs8', device.hpke.privateKey));
    const msg = Uint8Array.of(9, 9);
    const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, device.signingKey, msg));
    assert.equal(await verifyEd25519(fromB64u(file.signingPublicKey), msg, sig), true);
    const key = Uint8Array.from({ length: 16 }, (_, i) => i);
    const wrapped = await wrapKey(fromB64u(file.hpkePublicKey), key, 'ctx');
    assert.deepEqual(await unwrapKey(device.hpke, wrapped, 'ctx'), key);
  });

  test('broken files and mismatched keys are DeviceFileErrors', async () => {
    for (const text of [
      '',
      'null',
      '[]',
      '{"v":1}',
      '{"v":2,"deviceId":"d","signingPkcs8":"a","signingPublicKey":"a","hpkePrivateKey":"a","hpkePublicKey":"a"}',
    ])
      assert.throws(() => parseDeviceFile(text), isFileError('bad_file'), text);
    const a = await createDeviceFile();
    const b = await createDeviceFile();
    const mixed: DeviceFile[] = [
      { ...a, signingPublicKey: b.signingPublicKey },
      { ...a, hpkePublicKey: b.hpkePublicKey },
      { ...a, hpkePrivateKey: b.hpkePrivateKey },
      { ...a, signingPkcs8: toB64u(new Uint8Array(10)) },
      { ...a, hpkePrivateKey: toB64u(new Uint8Array(31)) },
      { ...a, signingPkcs8: '!!' },
    ];
    for (const f of mixed) await assert.rejects(deviceFromFile(f, 'u'), isFileError('bad_key'));
  });
});
