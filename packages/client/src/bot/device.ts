/**
 * A bot's E2EE device identity without IndexedDB (isomorphic): created in memory, and saved to /
 * loaded from a JSON "key file" (`DeviceFile`). Same keys as a browser device (identity.ts): an
 * Ed25519 signing key (it signs key messages, speaker signatures and, per stage membership, the
 * binding of an ephemeral MLS signature key) and an X25519 HPKE key for listener key wraps.
 *
 * A key file is by nature the private key bytes: the keys are generated extractable only to be
 * written out, and `deviceFromFile` imports them as non-extractable CryptoKeys (after checking
 * that each private key belongs to its public key). Keep the file private: `key-file.ts` (Node)
 * writes it with mode 0600 and refuses to load one that others can read.
 */
import {
  deviceKeysMatch,
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

export type DeviceFileErrorCode =
  /** Not a key file: bad JSON, a missing field, an unknown version. */
  | 'bad_file'
  /** A key that does not import, or a private key that does not belong to its public key. */
  | 'bad_key'
  /** (key-file.ts) the file is readable or writable by others than its owner. */
  | 'unprotected'
  /** (key-file.ts) reading or writing the file failed. */
  | 'io';

export class DeviceFileError extends Error {
  readonly code: DeviceFileErrorCode;
  constructor(code: DeviceFileErrorCode, message: string, options?: { cause?: unknown }) {
    super(`device key file: ${message}`, options);
    this.name = 'DeviceFileError';
    this.code = code;
  }
}

/** A fresh device (not yet published), as a key file. */
export async function createDeviceFile(): Promise<DeviceFile> {
  const subtle = globalThis.crypto.subtle;
  // extractable only so that the bytes can be written to the file; these keys are then dropped
  const sign = (await subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const hpke = await generateWrapKeyPair({ extractable: true });
  return {
    v: 1,
    deviceId: `d_${toB64u(globalThis.crypto.getRandomValues(new Uint8Array(16)))}`,
    signingPkcs8: toB64u(new Uint8Array(await subtle.exportKey('pkcs8', sign.privateKey))),
    signingPublicKey: toB64u(new Uint8Array(await subtle.exportKey('raw', sign.publicKey))),
    hpkePrivateKey: toB64u(await exportPrivateKey(hpke.privateKey)),
    hpkePublicKey: toB64u(await exportPublicKey(hpke.publicKey)),
  };
}

const FIELDS = ['deviceId', 'signingPkcs8', 'signingPublicKey', 'hpkePrivateKey', 'hpkePublicKey'] as const;

/** Parses a key file's text. Throws DeviceFileError('bad_file'). */
export function parseDeviceFile(text: string): DeviceFile {
  let f: Partial<DeviceFile>;
  try {
    f = JSON.parse(text) as Partial<DeviceFile>;
  } catch {
    throw new DeviceFileError('bad_file', 'not JSON');
  }
  if (typeof f !== 'object' || f === null) throw new DeviceFileError('bad_file', 'not an object');
  for (const k of FIELDS)
    if (typeof f[k] !== 'string' || f[k] === '') throw new DeviceFileError('bad_file', `missing ${k}`);
  if (f.v !== 1) throw new DeviceFileError('bad_file', 'unknown version');
  return f as DeviceFile;
}

/**
 * The key file as the LocalDevice the KeyManager uses, for the signed-in user `userId`: private
 * keys imported non-extractable. Throws DeviceFileError('bad_key') for keys that do not import
 * or do not match their public keys.
 */
export async function deviceFromFile(file: DeviceFile, userId: string): Promise<LocalDevice> {
  let device: LocalDevice;
  try {
    const signingPkcs8 = fromB64u(file.signingPkcs8);
    const hpkePrivate = fromB64u(file.hpkePrivateKey);
    const hpkePublicKey = fromB64u(file.hpkePublicKey);
    try {
      device = {
        userId,
        deviceId: file.deviceId,
        signingKey: await importSigningKey(signingPkcs8),
        signingPublicKey: fromB64u(file.signingPublicKey),
        hpke: {
          privateKey: await importPrivateKey(hpkePrivate),
          publicKey: await importPublicKey(hpkePublicKey),
        },
        hpkePublicKey,
      };
    } finally {
      signingPkcs8.fill(0);
      hpkePrivate.fill(0);
    }
  } catch (e) {
    throw new DeviceFileError('bad_key', 'a key does not import', { cause: e });
  }
  if (!(await deviceKeysMatch(device))) {
    throw new DeviceFileError('bad_key', 'a private key does not belong to its public key');
  }
  return device;
}
