/**
 * Trust on first use: the first identity seen for a contact's device is remembered; later
 * sightings are compared with it. A change is reported, never silently accepted — the
 * application shows a warning (and the new safety number) and calls `trust` only after the
 * user accepts it.
 */
import { bytesEqualConstantTime } from '../sframe/bytes.ts';
import { type DeviceIdentity, type DeviceRef, deviceKey, type KeyDirectory } from './device.ts';

export type TofuVerdict = 'new' | 'same' | 'changed';

export interface TofuStore {
  /**
   * Compares `identity` with what is remembered for its (userId, deviceId). The first sighting
   * is remembered and reported as 'new'; a differing signing or HPKE key is 'changed' and is
   * NOT remembered.
   */
  check(identity: DeviceIdentity): Promise<TofuVerdict>;
  /** Replaces the remembered identity (after the user accepted a change or verified it). */
  trust(identity: DeviceIdentity): Promise<void>;
  /** What is remembered for a device, if anything. */
  get(ref: DeviceRef): Promise<DeviceIdentity | undefined>;
  /** Forgets a device (e.g. the contact removed it). */
  forget(ref: DeviceRef): Promise<void>;
}

export function sameKeys(a: DeviceIdentity, b: DeviceIdentity): boolean {
  // evaluate both comparisons (no short-circuit on the first)
  const s = bytesEqualConstantTime(a.signingPublicKey, b.signingPublicKey);
  const h = bytesEqualConstantTime(a.hpkePublicKey, b.hpkePublicKey);
  return s && h;
}

function copy(identity: DeviceIdentity): DeviceIdentity {
  return {
    userId: identity.userId,
    deviceId: identity.deviceId,
    signingPublicKey: Uint8Array.from(identity.signingPublicKey),
    hpkePublicKey: Uint8Array.from(identity.hpkePublicKey),
  };
}

/** In-memory TofuStore (tests, bots). Clients persist the same thing in IndexedDB. */
export class MemoryTofuStore implements TofuStore {
  private readonly seen = new Map<string, DeviceIdentity>();

  async check(identity: DeviceIdentity): Promise<TofuVerdict> {
    const key = deviceKey(identity);
    const known = this.seen.get(key);
    if (known === undefined) {
      this.seen.set(key, copy(identity));
      return 'new';
    }
    return sameKeys(known, identity) ? 'same' : 'changed';
  }

  async trust(identity: DeviceIdentity): Promise<void> {
    this.seen.set(deviceKey(identity), copy(identity));
  }

  async get(ref: DeviceRef): Promise<DeviceIdentity | undefined> {
    const known = this.seen.get(deviceKey(ref));
    return known === undefined ? undefined : copy(known);
  }

  async forget(ref: DeviceRef): Promise<void> {
    this.seen.delete(deviceKey(ref));
  }
}

/** In-memory KeyDirectory for tests and bots: publish identities, look them up. */
export class MemoryKeyDirectory implements KeyDirectory {
  private readonly devices = new Map<string, DeviceIdentity>();

  publish(identity: DeviceIdentity): void {
    this.devices.set(deviceKey(identity), copy(identity));
  }

  unpublish(ref: DeviceRef): void {
    this.devices.delete(deviceKey(ref));
  }

  async lookup(userId: string, deviceId: string): Promise<DeviceIdentity | undefined> {
    const found = this.devices.get(deviceKey({ userId, deviceId }));
    return found === undefined ? undefined : copy(found);
  }
}
