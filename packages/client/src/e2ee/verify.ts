/**
 * Key verification for people: safety numbers (this browser's device ⇄ each of a contact's
 * published devices, 60 digits, the same on both phones) and trust on first use (IndexedDB): the
 * first keys seen for a contact device are remembered; a later change is reported until the user
 * accepts it. The app server is the key directory, so these are what catch it swapping keys.
 */
import { type DeviceIdentity, safetyNumber, type TofuVerdict } from '@sotto/e2ee';
import type { SottoApi } from '../api.ts';
import { fromB64u } from './b64.ts';
import { loadOrCreateDevice } from './identity.ts';
import { IndexedDbTofuStore } from './tofu-store.ts';

export interface ContactDevice {
  deviceId: string;
  identity: DeviceIdentity;
  /** 12 groups of 5 digits; compare with what the contact's device shows for you. */
  safetyNumber: string;
  /** `changed`: the directory now lists other keys for this device than first seen. */
  tofu: TofuVerdict;
}

let store: IndexedDbTofuStore | null = null;
export function tofuStore(): IndexedDbTofuStore {
  store ??= new IndexedDbTofuStore();
  return store;
}

export function deviceIdentity(
  userId: string,
  d: { id: string; signingPublicKey: string; hpkePublicKey: string },
): DeviceIdentity {
  return {
    userId,
    deviceId: d.id,
    signingPublicKey: fromB64u(d.signingPublicKey),
    hpkePublicKey: fromB64u(d.hpkePublicKey),
  };
}

/** A contact's devices, each with its safety number (against this browser's device) and TOFU verdict. */
export async function contactDevices(
  api: SottoApi,
  contact: { id: string; username: string },
): Promise<ContactDevice[]> {
  const [me, devices] = await Promise.all([api.me(), api.devices(contact.username)]);
  const mine = await loadOrCreateDevice(me.user.id);
  const own: DeviceIdentity = {
    userId: me.user.id,
    deviceId: mine.deviceId,
    signingPublicKey: mine.signingPublicKey,
    hpkePublicKey: mine.hpkePublicKey,
  };
  const out: ContactDevice[] = [];
  for (const d of devices) {
    const identity = deviceIdentity(contact.id, d);
    out.push({
      deviceId: d.id,
      identity,
      safetyNumber: await safetyNumber(own, identity),
      tofu: await tofuStore().check(identity),
    });
  }
  return out;
}

/** The user compared safety numbers (or accepts the change): remember these keys. */
export function trustContactDevice(identity: DeviceIdentity): Promise<void> {
  return tofuStore().trust(identity);
}
