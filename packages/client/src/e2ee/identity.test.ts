// This browser's device (identity.ts) against a small in-memory IndexedDB (values kept by
// structured clone, transactions one at a time, as the real one does for one object store): what
// is stored is CryptoKeys — private halves non-extractable — and public key bytes, nothing else;
// the device loads back and works (signs, opens HPKE wraps); a stored device of an older format
// (key bytes), with extractable or mismatched keys, is replaced by a new device; two tabs
// creating at once end up with one device; without IndexedDB the device lives for the page.
import assert from 'node:assert/strict';
import { afterEach, describe, test } from 'node:test';
import { unwrapKey, verifyEd25519, wrapKey } from '@sotto/e2ee';
import { DEVICES } from './db.ts';
import { createStoredDevice, isStoredDevice, loadOrCreateDevice } from './identity.ts';

type Store = Map<string, unknown>;

class FakeRequest {
  result: unknown;
  error: unknown = null;
  onsuccess: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onupgradeneeded: (() => void) | null = null;
}

class FakeTransaction {
  oncomplete: (() => void) | null = null;
  onerror: (() => void) | null = null;
  onabort: (() => void) | null = null;
  error: unknown = null;
  #pending = 0;
  #done = false;
  constructor(
    private readonly store: Store,
    private readonly start: Promise<void>,
    private readonly release: () => void,
  ) {}
  objectStore(): { get(key: string): FakeRequest; put(value: unknown, key: string): FakeRequest } {
    return {
      get: (key) => this.#request(() => structuredClone(this.store.get(key))),
      put: (value, key) =>
        this.#request(() => {
          this.store.set(key, structuredClone(value));
          return key;
        }),
    };
  }
  #request(run: () => unknown): FakeRequest {
    const req = new FakeRequest();
    this.#pending++;
    void this.start.then(() =>
      setTimeout(() => {
        req.result = run();
        req.onsuccess?.();
        this.#pending--;
        if (this.#pending === 0) setTimeout(() => this.#complete(), 0);
      }, 0),
    );
    return req;
  }
  #complete(): void {
    if (this.#pending !== 0 || this.#done) return;
    this.#done = true;
    this.oncomplete?.();
    this.release();
  }
}

class FakeDb {
  readonly stores = new Map<string, Store>();
  #lock: Promise<void> = Promise.resolve();
  readonly objectStoreNames = { contains: (name: string) => this.stores.has(name) };
  createObjectStore(name: string): void {
    this.stores.set(name, new Map());
  }
  transaction(name: string): FakeTransaction {
    const store = this.stores.get(name);
    if (!store) throw new Error(`no store ${name}`);
    const start = this.#lock;
    let release!: () => void;
    this.#lock = new Promise<void>((r) => {
      release = r;
    });
    return new FakeTransaction(store, start, release);
  }
  close(): void {}
}

function installFakeIndexedDb(): FakeDb {
  const db = new FakeDb();
  let created = false;
  (globalThis as { indexedDB?: unknown }).indexedDB = {
    open() {
      const req = new FakeRequest();
      setTimeout(() => {
        req.result = db;
        if (!created) {
          created = true;
          req.onupgradeneeded?.();
        }
        req.onsuccess?.();
      }, 0);
      return req;
    },
  };
  return db;
}

afterEach(() => {
  delete (globalThis as { indexedDB?: unknown }).indexedDB;
});

/** Every byte array anywhere in a stored value (CryptoKeys are opaque: not walked). */
function byteArrays(value: unknown, out: Uint8Array[] = []): Uint8Array[] {
  if (value instanceof Uint8Array) out.push(value);
  else if (value instanceof ArrayBuffer) out.push(new Uint8Array(value));
  else if (typeof value === 'object' && value !== null && !(value instanceof CryptoKey))
    for (const v of Object.values(value)) byteArrays(v, out);
  return out;
}

async function works(device: Awaited<ReturnType<typeof loadOrCreateDevice>>): Promise<void> {
  const msg = Uint8Array.of(1, 2, 3);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, device.signingKey, msg));
  assert.equal(await verifyEd25519(device.signingPublicKey, msg, sig), true, 'signs for its public key');
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  const wrapped = await wrapKey(device.hpkePublicKey, key, 'ctx');
  assert.deepEqual(await unwrapKey(device.hpke, wrapped, 'ctx'), key, 'opens wraps to its public key');
}

describe('browser device identity (IndexedDB)', () => {
  test('a new device is stored as non-extractable CryptoKeys plus public key bytes only, and loads back', async () => {
    const db = installFakeIndexedDb();
    const device = await loadOrCreateDevice('u1');
    assert.match(device.deviceId, /^d_[\w-]{22}$/);
    assert.equal(device.signingKey.extractable, false);
    assert.equal(device.hpke.privateKey.extractable, false);
    for (const format of ['pkcs8', 'jwk'] as const) {
      await assert.rejects(crypto.subtle.exportKey(format, device.signingKey));
      await assert.rejects(crypto.subtle.exportKey(format, device.hpke.privateKey));
    }
    const stored = db.stores.get(DEVICES)?.get('u1');
    assert.ok(isStoredDevice(stored), 'stored in the current format');
    const bytes = byteArrays(stored);
    assert.equal(bytes.length, 2, 'the only bytes stored are the two public keys');
    assert.deepEqual(
      bytes.map((b) => Buffer.from(b).toString('hex')).sort(),
      [device.signingPublicKey, device.hpkePublicKey].map((b) => Buffer.from(b).toString('hex')).sort(),
    );
    await works(device);
    const again = await loadOrCreateDevice('u1');
    assert.equal(again.deviceId, device.deviceId);
    assert.deepEqual(again.signingPublicKey, device.signingPublicKey);
    assert.deepEqual(again.hpkePublicKey, device.hpkePublicKey);
    await works(again);
    // another signed-in user on this browser gets a device of its own
    assert.notEqual((await loadOrCreateDevice('u2')).deviceId, device.deviceId);
  });

  test('a stored device with key bytes (the old formats) is replaced by a new device, bytes gone', async () => {
    const db = installFakeIndexedDb();
    await loadOrCreateDevice('seed'); // creates the store
    const store = db.stores.get(DEVICES)!;
    const ed = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', ed.privateKey));
    const old = {
      deviceId: 'd_old',
      signingKey: ed.privateKey,
      signingPublicKey: new Uint8Array(await crypto.subtle.exportKey('raw', ed.publicKey)),
      signingPkcs8: pkcs8,
      hpkePrivateKey: new Uint8Array(32).fill(7),
      hpkePublicKey: new Uint8Array(32).fill(8),
    };
    const { signingPkcs8: _dropped, ...preMls } = old;
    for (const record of [old, preMls]) {
      store.set('u1', record);
      const device = await loadOrCreateDevice('u1');
      assert.notEqual(device.deviceId, 'd_old', 'a new device');
      const now = store.get('u1') as Record<string, unknown>;
      assert.ok(isStoredDevice(now));
      assert.equal('signingPkcs8' in now || 'hpkePrivateKey' in now, false, 'the old key bytes are gone');
      assert.equal(byteArrays(now).length, 2);
      await works(device);
    }
  });

  test('a current-format record with extractable or mismatched keys is replaced too', async () => {
    const db = installFakeIndexedDb();
    const good = await loadOrCreateDevice('u1');
    const store = db.stores.get(DEVICES)!;
    const current = store.get('u1') as Awaited<ReturnType<typeof createStoredDevice>>;
    const other = await createStoredDevice();
    const extractable = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const bad = [
      { ...current, signingKey: extractable.privateKey }, // extractable signing key
      { ...current, hpke: other.hpke }, // HPKE pair of another device
      { ...current, signingKey: other.signingKey }, // signing key of another device
      { ...current, v: 1 },
      { ...current, signingPublicKey: new Uint8Array(31) },
    ];
    for (const record of bad) {
      store.set('u1', record);
      const device = await loadOrCreateDevice('u1');
      assert.notEqual(device.deviceId, good.deviceId, `replaced: ${bad.indexOf(record)}`);
      await works(device);
    }
  });

  test('two tabs creating at once end up with the same device', async () => {
    installFakeIndexedDb();
    const [a, b] = await Promise.all([loadOrCreateDevice('u1'), loadOrCreateDevice('u1')]);
    assert.equal(a.deviceId, b.deviceId);
    assert.deepEqual(a.signingPublicKey, b.signingPublicKey);
    assert.equal((await loadOrCreateDevice('u1')).deviceId, a.deviceId);
  });

  test('without IndexedDB (private mode): a working device for this page', async () => {
    const device = await loadOrCreateDevice('u1');
    assert.equal(device.signingKey.extractable, false);
    await works(device);
    assert.notEqual((await loadOrCreateDevice('u1')).deviceId, device.deviceId);
  });
});
