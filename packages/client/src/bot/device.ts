/**
 * A bot's E2EE device identity without IndexedDB (isomorphic): created in memory, and saved to /
 * loaded from a JSON "key file" (`DeviceFile`). Same keys as a browser device (identity.ts): an
 * Ed25519 signing key (also the MLS signature key) and an X25519 HPKE key for listener key wraps.
 * The file holds private keys: whoever stores it keeps it private (e.g. a file with mode 0600).
 */
import {
  exportPrivateKey,
  exportPublicKey,
  generateWrapKeyPair,
  importPrivateKey,
  importPublicKey,
  importSigningKey,
} from '@sotto/e2ee';
import { fromB64u, toB64u } from '../e2ee/b64.ts';
import type { LocalDevice } from '../e2ee/keys.ts';

/** The key file's JSON (byte strings are base64url). */
export interface DeviceFile {
  v: 1;
  deviceId: string;
  signingPkcs8: string;
  signingPublicKey: string;
  hpkePrivateKey: string;
  hpkePublicKey: string;
}

/** A fresh device (not yet published), as a key file. */
export async function createDeviceFile(): Promise<DeviceFile> {
  const subtle = globalThis.crypto.subtle;
  const sign = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const hpke = await generateWrapKeyPair();
  return {
    v: 1,
    deviceId: `d_${toB64u(globalThis.crypto.getRandomValues(new Uint8Array(16)))}`,
    signingPkcs8: toB64u(new Uint8Array(await subtle.exportKey('pkcs8', sign.privateKey))),
    signingPublicKey: toB64u(new Uint8Array(await subtle.exportKey('raw', sign.publicKey))),
    hpkePrivateKey: toB64u(await exportPrivateKey(hpke.privateKey)),
    hpkePublicKey: toB64u(await exportPublicKey(hpke.publicKey)),
  };
}

export function parseDeviceFile(text: string): DeviceFile {
  const f = JSON.parse(text) as Partial<DeviceFile>;
  for (const k of [
    'deviceId',
    'signingPkcs8',
    'signingPublicKey',
    'hpkePrivateKey',
    'hpkePublicKey',
  ] as const)
    if (typeof f[k] !== 'string') throw new Error(`device key file: missing ${k}`);
  if (f.v !== 1) throw new Error('device key file: unknown version');
  return f as DeviceFile;
}

/** The key file as the LocalDevice the KeyManager uses, for the signed-in user `userId`. */
export async function deviceFromFile(file: DeviceFile, userId: string): Promise<LocalDevice> {
  const signingPkcs8 = fromB64u(file.signingPkcs8);
  const hpkePublicKey = fromB64u(file.hpkePublicKey);
  return {
    userId,
    deviceId: file.deviceId,
    signingKey: await importSigningKey(signingPkcs8),
    signingPublicKey: fromB64u(file.signingPublicKey),
    signingPkcs8,
    hpke: {
      privateKey: await importPrivateKey(fromB64u(file.hpkePrivateKey)),
      publicKey: await importPublicKey(hpkePublicKey),
    },
    hpkePublicKey,
  };
}
