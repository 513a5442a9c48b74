/**
 * The client's E2EE IndexedDB (`sotto-e2ee`): `devices` (this browser's device identity per
 * signed-in user, identity.ts) and `tofu` (contacts' device keys as first seen, tofu-store.ts).
 */
const DB = 'sotto-e2ee';
const VERSION = 2;
export const DEVICES = 'devices';
export const TOFU = 'tofu';

export function openE2eeDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, VERSION);
    req.onupgradeneeded = () => {
      for (const name of [DEVICES, TOFU])
        if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

export function dbRequest<T>(
  db: IDBDatabase,
  store: string,
  mode: IDBTransactionMode,
  fn: (s: IDBObjectStore) => IDBRequest,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const tx = db.transaction(store, mode);
    const req = fn(tx.objectStore(store));
    tx.oncomplete = () => resolve(req.result as T);
    tx.onerror = () => reject(tx.error);
  });
}
