/**
 * This browser's device identity for E2EE, kept in IndexedDB (one per signed-in user):
 *  - Ed25519 signing key: a WebCrypto key generated non-extractable and stored as a CryptoKey
 *    (structured clone keeps it non-extractable; page script cannot read its bytes);
 *  - X25519 HPKE key: `@hpke/dhkem-x25519` keys are not WebCrypto CryptoKeys, so its 32 private
 *    bytes are stored as bytes (extractable by any script on the origin). Moving to WebCrypto
 *    X25519 (non-extractable) is the fix once the HPKE library accepts such keys.
 * The public parts are published to the app server's key directory (`POST /api/devices`).
 */
import { exportPrivateKey, exportPublicKey, generateWrapKeyPair, importPrivateKey } from '@sotto/e2ee';
import { toB64u } from './b64.ts';
import type { LocalDevice } from './keys.ts';

interface Stored {
  deviceId: string;
  signingKey: CryptoKey;
  signingPublicKey: Uint8Array;
  hpkePrivateKey: Uint8Array;
  hpkePublicKey: Uint8Array;
}

export interface PublishedDevice extends LocalDevice {
  hpkePublicKey: Uint8Array;
}

const DB = 'sotto-e2ee';
const STORE = 'devices';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function request<T>(
  db: IDBDatabase,
  mode: IDBTransactionMode,
  fn: (s: IDBObjectStore) => IDBRequest,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = fn(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result as T);
    tx.onerror = () => reject(tx.error);
  });
}

async function create(): Promise<Stored> {
  const subtle = globalThis.crypto.subtle;
  const sign = (await subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify'])) as CryptoKeyPair;
  const hpke = await generateWrapKeyPair();
  return {
    deviceId: `d_${toB64u(globalThis.crypto.getRandomValues(new Uint8Array(16)))}`,
    signingKey: sign.privateKey,
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
    db = await open();
    stored = await request<Stored | undefined>(db, 'readonly', (s) => s.get(userId));
  } catch {
    db = null; // private mode without IndexedDB: an ephemeral device for this page
  }
  if (!stored) {
    stored = await create();
    if (db) {
      const value = stored;
      await request(db, 'readwrite', (s) => s.put(value, userId)).catch(() => undefined);
    }
  }
  db?.close();
  return {
    deviceId: stored.deviceId,
    signingKey: stored.signingKey,
    signingPublicKey: stored.signingPublicKey,
    hpke: await importPrivateKey(stored.hpkePrivateKey),
    hpkePublicKey: stored.hpkePublicKey,
  };
}
