/**
 * This browser's device identity for E2EE, kept in IndexedDB (one per signed-in user) as
 * WebCrypto CryptoKeys only (IndexedDB stores them by structured clone), never as key bytes:
 *  - Ed25519 signing key: non-extractable (`sign`). It signs key messages, speaker signatures
 *    and, once per stage membership, the binding of that membership's ephemeral MLS signature
 *    key (ts-mls signs with raw key bytes, so MLS gets a fresh in-memory key per membership and
 *    the device key vouches for it: `@sotto/e2ee` mls/credentials.ts).
 *  - X25519 HPKE key pair: private key non-extractable (`deriveBits`), used through
 *    `@hpke/core`'s WebCrypto DHKEM(X25519).
 * Only the public keys are also kept as bytes; they are published to the app server's key
 * directory (`POST /api/devices`, on every `RoomE2ee.prepare`).
 *
 * A stored record that is not in this form — a device from before (its Ed25519 key also as
 * PKCS#8 bytes, its X25519 private key as raw bytes), an extractable key, keys that do not
 * belong together — is replaced by a new device (new device id), which the next `prepare()`
 * publishes; the old record, bytes included, is overwritten.
 */
import { deviceKeysMatch, exportPublicKey, generateSigningKeyPair, generateWrapKeyPair } from '@sotto/e2ee';
import { toB64u } from './b64.ts';
import { DEVICES, openE2eeDb } from './db.ts';
import type { LocalDevice } from './keys.ts';

/** What IndexedDB holds per user (version 2: CryptoKeys only). */
export interface StoredDevice {
  v: 2;
  deviceId: string;
  /** Ed25519 private key: non-extractable, usage `sign`. */
  signingKey: CryptoKey;
  signingPublicKey: Uint8Array;
  /** X25519: private key non-extractable (usage `deriveBits`), public key as a CryptoKey too. */
  hpke: CryptoKeyPair;
  hpkePublicKey: Uint8Array;
}

export type PublishedDevice = LocalDevice;

function isKey(k: unknown, algorithm: string, type: KeyType, usage?: KeyUsage): k is CryptoKey {
  return (
    typeof CryptoKey !== 'undefined' &&
    k instanceof CryptoKey &&
    k.algorithm.name === algorithm &&
    k.type === type &&
    (type === 'public' || !k.extractable) &&
    (usage === undefined || k.usages.includes(usage))
  );
}

function is32Bytes(b: unknown): b is Uint8Array {
  return b instanceof Uint8Array && b.length === 32;
}

/**
 * Whether a stored record is a current device: version 2, non-extractable private CryptoKeys of
 * the right algorithms, 32-byte public keys, and nothing else that holds key bytes.
 */
export function isStoredDevice(value: unknown): value is StoredDevice {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<StoredDevice> & Record<string, unknown>;
  if ('signingPkcs8' in v || 'hpkePrivateKey' in v) return false; // the pre-CryptoKey format
  const hpke = v.hpke as Partial<CryptoKeyPair> | undefined;
  return (
    v.v === 2 &&
    typeof v.deviceId === 'string' &&
    v.deviceId.length > 0 &&
    isKey(v.signingKey, 'Ed25519', 'private', 'sign') &&
    is32Bytes(v.signingPublicKey) &&
    typeof hpke === 'object' &&
    hpke !== null &&
    isKey(hpke.privateKey, 'X25519', 'private', 'deriveBits') &&
    isKey(hpke.publicKey, 'X25519', 'public') &&
    is32Bytes(v.hpkePublicKey)
  );
}

/** A new device: fresh keys, private halves non-extractable. */
export async function createStoredDevice(): Promise<StoredDevice> {
  const [signing, hpke] = await Promise.all([generateSigningKeyPair(), generateWrapKeyPair()]);
  return {
    v: 2,
    deviceId: `d_${toB64u(globalThis.crypto.getRandomValues(new Uint8Array(16)))}`,
    signingKey: signing.privateKey,
    signingPublicKey: signing.publicKey,
    hpke: { privateKey: hpke.privateKey, publicKey: hpke.publicKey },
    hpkePublicKey: await exportPublicKey(hpke.publicKey),
  };
}

/** A stored record that is current and whose keys belong together. */
async function usable(value: unknown): Promise<StoredDevice | undefined> {
  if (!isStoredDevice(value)) return undefined;
  const ok = await deviceKeysMatch({
    signingKey: value.signingKey,
    signingPublicKey: value.signingPublicKey,
    hpke: value.hpke,
    hpkePublicKey: value.hpkePublicKey,
  });
  return ok ? value : undefined;
}

function readDevice(db: IDBDatabase, userId: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(DEVICES, 'readonly');
    const req = tx.objectStore(DEVICES).get(userId);
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/**
 * Stores `fresh` unless, meanwhile, another tab stored a current device for this user (then that
 * one wins: one device per browser profile). Get and put run in one readwrite transaction.
 */
function storeUnlessCurrent(db: IDBDatabase, userId: string, fresh: StoredDevice): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(DEVICES, 'readwrite');
    const store = tx.objectStore(DEVICES);
    let winner: unknown = fresh;
    const get = store.get(userId);
    get.onsuccess = () => {
      if (isStoredDevice(get.result)) winner = get.result;
      else store.put(fresh, userId);
    };
    tx.oncomplete = () => resolve(winner);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

function toLocal(userId: string, d: StoredDevice): PublishedDevice {
  return {
    userId,
    deviceId: d.deviceId,
    signingKey: d.signingKey,
    signingPublicKey: d.signingPublicKey,
    hpke: { privateKey: d.hpke.privateKey, publicKey: d.hpke.publicKey },
    hpkePublicKey: d.hpkePublicKey,
  };
}

/**
 * This browser's device for `userId`, created (and stored) on first use, and replaced when the
 * stored one is not current (see the header).
 */
export async function loadOrCreateDevice(userId: string): Promise<PublishedDevice> {
  let db: IDBDatabase | null = null;
  try {
    db = await openE2eeDb();
  } catch {
    db = null; // private mode without IndexedDB: an ephemeral device for this page
  }
  try {
    if (db) {
      const found = await usable(await readDevice(db, userId).catch(() => undefined));
      if (found) return toLocal(userId, found);
    }
    const fresh = await createStoredDevice();
    if (!db) return toLocal(userId, fresh);
    const stored = await storeUnlessCurrent(db, userId, fresh).catch(() => fresh);
    return toLocal(userId, (await usable(stored)) ?? fresh);
  } finally {
    db?.close();
  }
}
