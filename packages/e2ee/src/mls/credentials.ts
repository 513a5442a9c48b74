/**
 * Sotto's MLS credential rule (our AuthenticationService; ts-mls's default accepts anything).
 *
 * A stage member's leaf MUST carry a *basic* credential whose identity is
 * `encodeDeviceRef({ userId, deviceId })` (see identity/device.ts), and the leaf's signature
 * public key MUST equal the Ed25519 signing key the KeyDirectory publishes for that device.
 * Anything else — x509/custom credentials, undecodable identities, unknown devices, a key the
 * directory does not list — is rejected.
 *
 * ts-mls calls `validateCredential` for every leaf it accepts: KeyPackages in Add proposals
 * (also when we commit them ourselves), UpdatePath leaf nodes of every commit, Update
 * proposals, every leaf of the ratchet tree and the GroupInfo signer when joining from a
 * Welcome, and external senders.
 */
import type { AuthenticationService, Credential } from 'ts-mls';
import { type DeviceRef, decodeDeviceRef, type KeyDirectory } from '../identity/device.ts';
import { bytesEqualConstantTime } from '../sframe/bytes.ts';

/** The (userId, deviceId) a credential names, or undefined if it is not a Sotto credential. */
export function credentialDevice(credential: Credential): DeviceRef | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  try {
    return decodeDeviceRef(credential.identity);
  } catch {
    return undefined;
  }
}

export type CredentialVerdict = 'ok' | 'not_sotto_credential' | 'unknown_device' | 'key_mismatch';

/** Checks one (credential, signature key) pair against the key directory. */
export async function checkCredential(
  directory: KeyDirectory,
  credential: Credential,
  signaturePublicKey: Uint8Array,
): Promise<CredentialVerdict> {
  const device = credentialDevice(credential);
  if (device === undefined) return 'not_sotto_credential';
  let published: Awaited<ReturnType<KeyDirectory['lookup']>>;
  try {
    published = await directory.lookup(device.userId, device.deviceId);
  } catch {
    return 'unknown_device'; // fail closed when the directory is unreachable
  }
  if (published === undefined) return 'unknown_device';
  if (published.userId !== device.userId || published.deviceId !== device.deviceId) return 'unknown_device';
  return bytesEqualConstantTime(published.signingPublicKey, signaturePublicKey) ? 'ok' : 'key_mismatch';
}

/** The AuthenticationService handed to ts-mls for every stage member. */
export function directoryAuthService(
  directory: KeyDirectory,
  onReject?: (device: DeviceRef | undefined, verdict: CredentialVerdict) => void,
): AuthenticationService {
  return {
    async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
      const verdict = await checkCredential(directory, credential, signaturePublicKey);
      if (verdict !== 'ok') onReject?.(credentialDevice(credential), verdict);
      return verdict === 'ok';
    },
  };
}
