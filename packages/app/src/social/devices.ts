/**
 * The E2EE key directory: each signed-in user's devices publish their public identity keys (an
 * Ed25519 signing key and an X25519 HPKE key). The server stores and serves them; it never sees a
 * private key or a media key. Clients pin what they see (trust on first use) and compare safety
 * numbers, so a server that swaps keys is detectable.
 */
import { notFound } from '../api/problem.ts';
import type { Device, DeviceKeys, PublishDeviceRequest } from '../api/schemas.ts';
import type { Db } from '../store/db.ts';
import type { DevicesTable } from '../store/schema.ts';

/** At most this many devices per user (the oldest is replaced beyond it). */
export const MAX_DEVICES = 20;

const toDevice = (r: DevicesTable): Device => ({
  id: r.device_id,
  signingPublicKey: r.signing_public_key,
  hpkePublicKey: r.hpke_public_key,
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
});

export const deviceKeys = (
  r: Pick<DevicesTable, 'device_id' | 'signing_public_key' | 'hpke_public_key'>,
): DeviceKeys => ({
  id: r.device_id,
  signingPublicKey: r.signing_public_key,
  hpkePublicKey: r.hpke_public_key,
});

/** Publishes (or re-publishes) one of the caller's devices. */
export async function publishDevice(db: Db, userId: string, req: PublishDeviceRequest): Promise<Device> {
  const now = Date.now();
  const existing = await db
    .selectFrom('devices')
    .selectAll()
    .where('user_id', '=', userId)
    .where('device_id', '=', req.deviceId)
    .executeTakeFirst();
  if (existing) {
    await db
      .updateTable('devices')
      .set({ signing_public_key: req.signingPublicKey, hpke_public_key: req.hpkePublicKey, updated_at: now })
      .where('user_id', '=', userId)
      .where('device_id', '=', req.deviceId)
      .execute();
  } else {
    const all = await db
      .selectFrom('devices')
      .select(['device_id'])
      .where('user_id', '=', userId)
      .orderBy('updated_at', 'asc')
      .execute();
    if (all.length >= MAX_DEVICES) {
      const drop = all.slice(0, all.length - MAX_DEVICES + 1).map((d) => d.device_id);
      await db.deleteFrom('devices').where('user_id', '=', userId).where('device_id', 'in', drop).execute();
    }
    await db
      .insertInto('devices')
      .values({
        user_id: userId,
        device_id: req.deviceId,
        signing_public_key: req.signingPublicKey,
        hpke_public_key: req.hpkePublicKey,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }
  const row = await db
    .selectFrom('devices')
    .selectAll()
    .where('user_id', '=', userId)
    .where('device_id', '=', req.deviceId)
    .executeTakeFirstOrThrow();
  return toDevice(row);
}

export async function listDevices(db: Db, userId: string): Promise<Device[]> {
  const rows = await db
    .selectFrom('devices')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'asc')
    .orderBy('device_id', 'asc')
    .execute();
  return rows.map(toDevice);
}

/** Throws 404 `device_not_found` unless the device is one of the user's. */
export async function requireDevice(db: Db, userId: string, deviceId: string): Promise<void> {
  const row = await db
    .selectFrom('devices')
    .select('device_id')
    .where('user_id', '=', userId)
    .where('device_id', '=', deviceId)
    .executeTakeFirst();
  if (!row) throw notFound('device_not_found', 'publish this device with POST /api/devices first');
}

/** Device keys for (userId, deviceId) pairs, keyed `userId/deviceId`. */
export async function devicesFor(
  db: Db,
  pairs: readonly { userId: string; deviceId: string }[],
): Promise<Map<string, DeviceKeys>> {
  const out = new Map<string, DeviceKeys>();
  const users = [...new Set(pairs.map((p) => p.userId))];
  for (let i = 0; i < users.length; i += 500) {
    const rows = await db
      .selectFrom('devices')
      .select(['user_id', 'device_id', 'signing_public_key', 'hpke_public_key'])
      .where('user_id', 'in', users.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(`${r.user_id}/${r.device_id}`, deviceKeys(r));
  }
  return out;
}
