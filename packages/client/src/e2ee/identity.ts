/**
 * This browser's device identity for E2EE, kept in IndexedDB (one per signed-in user):
 *  - Ed25519 signing key: kept as a non-extractable CryptoKey for WebCrypto signatures and as
 *    PKCS#8 bytes, because the MLS library (ts-mls) signs with key bytes: the device's identity
 *    key is also its MLS signature key, so the stage's credentials can be checked against the
 *    key directory. (Devices stored before MLS, without the bytes, are replaced by a new device.)
 *  - X25519 HPKE key: `@hpke/dhkem-x25519` keys are not WebCrypto CryptoKeys, so its 32 private
 *    bytes are stored as bytes (extractable by any script on the origin). Moving to WebCrypto
 *    X25519 (non-extractable) is the fix once the HPKE library accepts such keys.
 * The public parts are published to the app server's key directory (`POST /api/devices`).
 */
import {
  exportPrivateKey,
  exportPublicKey,
  generateWrapKeyPair,
  importPrivateKey,
  importPublicKey,
  importSigningKey,
} from '@sotto/e2ee';
import { toB64u } from './b64.ts';
import { DEVICES, dbRequest, openE2eeDb } from './db.ts';
import type { LocalDevice } from './keys.ts';

interface Stored {
  deviceId: string;
  signingKey: CryptoKey;
  signingPublicKey: Uint8Array;
  signingPkcs8?: Uint8Array;
  hpkePrivateKey: Uint8Array;
  hpkePublicKey: Uint8Array;
}

export type PublishedDevice = LocalDevice;

async function create(): Promise<Stored> {
  const subtle = globalThis.crypto.subtle;
  const sign = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const hpke = await generateWrapKeyPair();
  const signingPkcs8 = new Uint8Array(await subtle.exportKey('pkcs8', sign.privateKey));
  return {
    deviceId: `d_${toB64u(globalThis.crypto.getRandomValues(new Uint8Array(16)))}`,
    signingKey: await importSigningKey(signingPkcs8),
    signingPkcs8,
    signingPublicKey: new Uint8Array(await subtle.exportKey('raw', sign.publicKey)),
    hpkePrivateKey: await exportPrivateKey(hpke.privateKey),
    hpkePublicKey: await exportPublicKey(hpke.publicKey),
  };
}

/** This browser's device for `userId`, created (and stored) on first use. */
export async function loadOrCreateDevice(userId: string): Promise<PublishedDevice> {
  let stored: Stored | undefined;
  let db: IDBDatabase | null = null;
  try {
    db = await openE2eeDb();
    stored = await dbRequest<Stored | undefined>(db, DEVICES, 'readonly', (s) => s.get(userId));
  } catch {
    db = null; // private mode without IndexedDB: an ephemeral device for this page
  }
  if (!stored?.signingPkcs8) {
    stored = await create();
    if (db) {
      const value = stored;
      await dbRequest(db, DEVICES, 'readwrite', (s) => s.put(value, userId)).catch(() => undefined);
    }
  }
  db?.close();
  return {
    userId,
    deviceId: stored.deviceId,
    signingKey: stored.signingKey,
    signingPublicKey: stored.signingPublicKey,
    signingPkcs8: stored.signingPkcs8 ?? new Uint8Array(0),
    hpke: {
      privateKey: await importPrivateKey(stored.hpkePrivateKey),
      publicKey: await importPublicKey(stored.hpkePublicKey),
    },
    hpkePublicKey: stored.hpkePublicKey,
  };
}
