/**
 * Trust on first use, persisted: the first keys seen for each contact device (userId, deviceId)
 * are remembered in IndexedDB; a later difference is `changed` (never silently accepted) until the
 * user accepts it (`trust`, e.g. after comparing safety numbers). Without IndexedDB (private
 * mode) it falls back to memory for the page's lifetime.
 */
import {
  type DeviceIdentity,
  type DeviceRef,
  MemoryTofuStore,
  sameKeys,
  type TofuStore,
  type TofuVerdict,
} from '@sotto/e2ee';
import { dbRequest, openE2eeDb, TOFU } from './db.ts';

interface Row {
  userId: string;
  deviceId: string;
  signingPublicKey: Uint8Array;
  hpkePublicKey: Uint8Array;
}

const key = (ref: DeviceRef) => `${ref.userId.length}:${ref.userId}/${ref.deviceId}`;

export class IndexedDbTofuStore implements TofuStore {
  readonly #fallback = new MemoryTofuStore();
  #db: Promise<IDBDatabase | null> | null = null;

  #open(): Promise<IDBDatabase | null> {
    this.#db ??= openE2eeDb().catch(() => null);
    return this.#db;
  }

  async get(ref: DeviceRef): Promise<DeviceIdentity | undefined> {
    const db = await this.#open();
    if (!db) return this.#fallback.get(ref);
    const row = await dbRequest<Row | undefined>(db, TOFU, 'readonly', (s) => s.get(key(ref)));
    return row && { ...row };
  }

  async check(identity: DeviceIdentity): Promise<TofuVerdict> {
    const db = await this.#open();
    if (!db) return this.#fallback.check(identity);
    const known = await this.get(identity);
    if (!known) {
      await this.trust(identity);
      return 'new';
    }
    return sameKeys(known, identity) ? 'same' : 'changed';
  }

  async trust(identity: DeviceIdentity): Promise<void> {
    const db = await this.#open();
    if (!db) return this.#fallback.trust(identity);
    const row: Row = {
      userId: identity.userId,
      deviceId: identity.deviceId,
      signingPublicKey: Uint8Array.from(identity.signingPublicKey),
      hpkePublicKey: Uint8Array.from(identity.hpkePublicKey),
    };
    await dbRequest(db, TOFU, 'readwrite', (s) => s.put(row, key(identity)));
  }

  async forget(ref: DeviceRef): Promise<void> {
    const db = await this.#open();
    if (!db) return this.#fallback.forget(ref);
    await dbRequest(db, TOFU, 'readwrite', (s) => s.delete(key(ref)));
  }
}
