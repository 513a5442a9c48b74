/**
 * Sotto's MLS credentials and the rule that checks them (our AuthenticationService; ts-mls's
 * default accepts anything).
 *
 * A device's Ed25519 identity key is a non-extractable WebCrypto key, and ts-mls signs with raw
 * key bytes, so a stage member's MLS leaf does NOT use the device key. Instead, every stage
 * membership (every KeyPackage: taking the stage, rejoining, opening a group) gets a fresh
 * *ephemeral* Ed25519 MLS signature key pair, held in memory only (in the KeyPackage's private
 * part, then in the MLS state; never stored), and the device key signs a *binding* of that leaf
 * key to the device and the room. The binding travels in the leaf's basic credential:
 *
 * ```
 * credential identity (all integers big-endian; no trailing bytes):
 *   "sotto/e2ee/mls-credential" 0x00
 *   u8   version = 1
 *   u16  len ‖ userId   (UTF-8, 1…255 bytes)
 *   u16  len ‖ deviceId (UTF-8, 1…255 bytes)
 *   32   device signing public key (raw Ed25519: the key the directory publishes)
 *   u16  len ‖ room     (UTF-8, 1…255 bytes: the room the membership is for)
 *   u64  notAfter       (Unix seconds: the binding may be *added* to a group until then)
 *   64   binding signature: Ed25519 by the device key over
 *          "sotto/e2ee/v1/mls-leaf-binding" 0x00 ‖ u16 len ‖ leaf signature public key
 *          ‖ every credential byte above (label … notAfter)
 * ```
 *
 * A leaf is accepted (`checkCredential`) only if: its credential is basic and decodes strictly;
 * its room is the stage's room; the key directory lists the device; the credential's device key
 * is the one the directory publishes for it; and that key's signature verifies over the binding
 * of *this leaf's* signature key. So the roster is exactly "these directory devices, each
 * vouching for its leaf key in this room", and a leaf key (or binding) taken from one room or
 * leaf cannot be used for another. The device key is carried in the credential so a member can
 * map a leaf to the device key without asking the directory again (speaker signatures are made
 * with the device key and checked against it: `StageMember.speakerRoster`).
 *
 * `notAfter` (set to the KeyPackage's own lifetime) is checked where a leaf *enters* a group —
 * a KeyPackage being added (`checkLifetimeAt`; StageMember does this for its own commits and for
 * the adds in commits it receives) — like MLS's own KeyPackage lifetime. It is not checked on
 * leaves already in the tree: a member's leaf (and its credential) lasts as long as its membership,
 * so a long-lived stage must not expel it. It bounds how long a leaked ephemeral key plus its
 * (public) binding could be used to slip a KeyPackage into that room.
 *
 * ts-mls calls `validateCredential` for every leaf it accepts: KeyPackages in Add proposals
 * (also when we commit them ourselves), UpdatePath leaf nodes of every commit, Update proposals,
 * every leaf of the ratchet tree and the GroupInfo signer when joining from a Welcome, and
 * external senders.
 */
import type { AuthenticationService, Credential } from 'ts-mls';
import {
  type DeviceIdentityKeys,
  type DeviceRef,
  decodeDeviceRef,
  ED25519_PUBLIC_KEY_BYTES,
  ED25519_SIGNATURE_BYTES,
  IdentityError,
  type KeyDirectory,
  signEd25519,
  verifyEd25519,
} from '../identity/device.ts';
import { bytesEqualConstantTime, concatBytes, encodeBigEndian, utf8 } from '../sframe/bytes.ts';
import { ByteReader } from '../util/byte-reader.ts';

export const CREDENTIAL_LABEL = 'sotto/e2ee/mls-credential';
export const CREDENTIAL_VERSION = 1;
export const BINDING_LABEL = 'sotto/e2ee/v1/mls-leaf-binding';
/** Longest binding lifetime a verifier accepts (the KeyPackage lifetime, 7 days, plus 1 h of clock skew). */
export const MAX_BINDING_LIFETIME_SECONDS = 7 * 24 * 3600 + 3600;
const MAX_FIELD_BYTES = 255;
const MAX_LEAF_KEY_BYTES = 0xffff;

/** What a Sotto MLS credential says (decoded; not yet checked). */
export interface DeviceCredential extends DeviceRef {
  /** The device's Ed25519 identity key (raw, 32 bytes), as the directory should publish it. */
  readonly devicePublicKey: Uint8Array;
  /** The room the membership is for. */
  readonly room: string;
  /** Unix seconds: last moment the leaf may be added to a group. */
  readonly notAfter: number;
  /** The device key's signature over the binding (64 bytes). */
  readonly signature: Uint8Array;
}

export type CredentialVerdict =
  | 'ok'
  /** Not a basic credential (x509, custom …). */
  | 'not_sotto_credential'
  /** Basic, but not a well-formed Sotto device credential: wrong label, truncated, trailing bytes, bad lengths or UTF-8. */
  | 'bad_encoding'
  /** A Sotto credential of another version (e.g. the device-ref-only identity from before bindings). */
  | 'unsupported_version'
  /** The binding names another room than the stage's. */
  | 'wrong_room'
  /** The key directory does not list the device (or cannot be reached: fail closed). */
  | 'unknown_device'
  /** The credential's device key is not the one the directory publishes for that device. */
  | 'key_mismatch'
  /** The binding signature does not verify: not made by the device key, or for another leaf key. */
  | 'bad_binding'
  /** (When adding) the binding's notAfter has passed. */
  | 'expired'
  /** (When adding) the binding claims a longer life than any honest client gives it. */
  | 'lifetime_too_long';

export class CredentialDecodeError extends Error {
  readonly verdict: 'bad_encoding' | 'unsupported_version';
  constructor(verdict: 'bad_encoding' | 'unsupported_version', message: string) {
    super(`credential: ${verdict}: ${message}`);
    this.name = 'CredentialDecodeError';
    this.verdict = verdict;
  }
}

const LABEL_BYTES = concatBytes(utf8(CREDENTIAL_LABEL), Uint8Array.of(0));
const BINDING_LABEL_BYTES = concatBytes(utf8(BINDING_LABEL), Uint8Array.of(0));

function u16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

function field(name: string, value: string): Uint8Array {
  const bytes = utf8(value);
  if (bytes.length === 0 || bytes.length > MAX_FIELD_BYTES) {
    throw new IdentityError('bad_input', `credential ${name} must be 1-${MAX_FIELD_BYTES} UTF-8 bytes`);
  }
  return concatBytes(u16(bytes.length), bytes);
}

/** The credential bytes the signature covers (everything but the signature). */
function credentialBody(c: Omit<DeviceCredential, 'signature'>): Uint8Array<ArrayBuffer> {
  if (c.devicePublicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new IdentityError('bad_key', 'credential device key must be 32 bytes');
  }
  if (!Number.isSafeInteger(c.notAfter) || c.notAfter < 0) {
    throw new IdentityError('bad_input', 'credential notAfter must be a non-negative integer');
  }
  return concatBytes(
    LABEL_BYTES,
    Uint8Array.of(CREDENTIAL_VERSION),
    field('userId', c.userId),
    field('deviceId', c.deviceId),
    c.devicePublicKey,
    field('room', c.room),
    encodeBigEndian(BigInt(c.notAfter), 8),
  );
}

/** What the device key signs: the binding of `leafSignaturePublicKey` to the credential body. */
export function bindingStatement(
  leafSignaturePublicKey: Uint8Array,
  body: Uint8Array,
): Uint8Array<ArrayBuffer> {
  if (leafSignaturePublicKey.length === 0 || leafSignaturePublicKey.length > MAX_LEAF_KEY_BYTES) {
    throw new IdentityError('bad_key', 'bad leaf signature key length');
  }
  return concatBytes(BINDING_LABEL_BYTES, u16(leafSignaturePublicKey.length), leafSignaturePublicKey, body);
}

export function encodeDeviceCredential(c: DeviceCredential): Uint8Array<ArrayBuffer> {
  if (c.signature.length !== ED25519_SIGNATURE_BYTES)
    throw new IdentityError('bad_input', 'credential signature must be 64 bytes');
  return concatBytes(credentialBody(c), c.signature);
}

function isLegacyDeviceRef(bytes: Uint8Array): boolean {
  try {
    decodeDeviceRef(bytes);
    return true;
  } catch {
    return false;
  }
}

/**
 * Strict decoding of a credential identity. Throws CredentialDecodeError: 'unsupported_version'
 * for another version (or the device-ref-only identity used before bindings), else 'bad_encoding'.
 */
export function decodeDeviceCredential(identity: Uint8Array): DeviceCredential {
  const r = new ByteReader(identity, (detail) => new CredentialDecodeError('bad_encoding', detail));
  const label = r.take(Math.min(LABEL_BYTES.length, identity.length));
  if (!bytesEqualConstantTime(label, LABEL_BYTES)) {
    if (isLegacyDeviceRef(identity)) {
      throw new CredentialDecodeError('unsupported_version', 'device reference without a binding');
    }
    throw new CredentialDecodeError('bad_encoding', 'not a Sotto device credential');
  }
  const version = r.take(1)[0]!;
  if (version !== CREDENTIAL_VERSION) {
    throw new CredentialDecodeError('unsupported_version', `version ${version}`);
  }
  const userId = r.text('userId', MAX_FIELD_BYTES);
  const deviceId = r.text('deviceId', MAX_FIELD_BYTES);
  const devicePublicKey = Uint8Array.from(r.take(ED25519_PUBLIC_KEY_BYTES));
  const room = r.text('room', MAX_FIELD_BYTES);
  const t = r.take(8);
  let notAfterBig = 0n;
  for (const b of t) notAfterBig = (notAfterBig << 8n) | BigInt(b);
  if (notAfterBig > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CredentialDecodeError('bad_encoding', 'notAfter out of range');
  }
  const signature = Uint8Array.from(r.take(ED25519_SIGNATURE_BYTES));
  if (r.rest !== 0) throw new CredentialDecodeError('bad_encoding', 'trailing bytes');
  return { userId, deviceId, devicePublicKey, room, notAfter: Number(notAfterBig), signature };
}

/**
 * The credential for an MLS leaf whose (ephemeral) signature public key is
 * `leafSignaturePublicKey`: the device key signs the binding to `room`, valid for adding until
 * `notAfter` (Unix seconds). Throws IdentityError for ids or a room outside 1–255 UTF-8 bytes.
 */
export async function createDeviceCredential(
  keys: Pick<DeviceIdentityKeys, 'identity' | 'signingKey'>,
  leafSignaturePublicKey: Uint8Array,
  room: string,
  notAfter: number,
): Promise<Credential> {
  const body = credentialBody({
    userId: keys.identity.userId,
    deviceId: keys.identity.deviceId,
    devicePublicKey: keys.identity.signingPublicKey,
    room,
    notAfter,
  });
  const signature = await signEd25519(keys.signingKey, bindingStatement(leafSignaturePublicKey, body));
  return { credentialType: 'basic', identity: concatBytes(body, signature) };
}

/** The decoded credential, or undefined if it is not a (well-formed) Sotto credential. */
export function credentialInfo(credential: Credential): DeviceCredential | undefined {
  if (credential.credentialType !== 'basic') return undefined;
  try {
    return decodeDeviceCredential(credential.identity);
  } catch {
    return undefined;
  }
}

/** The (userId, deviceId) a credential names, or undefined if it is not a Sotto credential. */
export function credentialDevice(credential: Credential): DeviceRef | undefined {
  const info = credentialInfo(credential);
  return info === undefined ? undefined : { userId: info.userId, deviceId: info.deviceId };
}

/** The lifetime rule for a binding being added at `now` (Unix seconds). */
export function bindingLifetimeVerdict(
  notAfter: number,
  now: number,
): 'ok' | 'expired' | 'lifetime_too_long' {
  if (notAfter < now) return 'expired';
  if (notAfter > now + MAX_BINDING_LIFETIME_SECONDS) return 'lifetime_too_long';
  return 'ok';
}

export interface CredentialCheck {
  /** The stage's room: the binding must name it. */
  readonly room: string;
  /**
   * Also enforce the binding's lifetime at this time (Unix seconds): pass it where a leaf enters
   * the group from a KeyPackage; leave it out for leaves already in the tree.
   */
  readonly checkLifetimeAt?: number;
}

/** Checks one (credential, leaf signature key) pair against the key directory. */
export async function checkCredential(
  directory: KeyDirectory,
  credential: Credential,
  leafSignaturePublicKey: Uint8Array,
  check: CredentialCheck,
): Promise<CredentialVerdict> {
  if (credential.credentialType !== 'basic') return 'not_sotto_credential';
  let c: DeviceCredential;
  try {
    c = decodeDeviceCredential(credential.identity);
  } catch (e) {
    return e instanceof CredentialDecodeError ? e.verdict : 'bad_encoding';
  }
  if (c.room !== check.room) return 'wrong_room';
  let published: Awaited<ReturnType<KeyDirectory['lookup']>>;
  try {
    published = await directory.lookup(c.userId, c.deviceId);
  } catch {
    return 'unknown_device'; // fail closed when the directory is unreachable
  }
  if (published === undefined) return 'unknown_device';
  if (published.userId !== c.userId || published.deviceId !== c.deviceId) return 'unknown_device';
  if (!bytesEqualConstantTime(published.signingPublicKey, c.devicePublicKey)) return 'key_mismatch';
  let statement: Uint8Array;
  try {
    // the signed bytes are exactly the credential's, minus the signature (the decoding is strict)
    const body = credential.identity.subarray(0, credential.identity.length - ED25519_SIGNATURE_BYTES);
    statement = bindingStatement(leafSignaturePublicKey, body);
  } catch {
    return 'bad_binding';
  }
  // verified with the directory's key (equal to the credential's, checked above)
  if (!(await verifyEd25519(published.signingPublicKey, statement, c.signature))) return 'bad_binding';
  if (check.checkLifetimeAt !== undefined) {
    const lifetime = bindingLifetimeVerdict(c.notAfter, check.checkLifetimeAt);
    if (lifetime !== 'ok') return lifetime;
  }
  return 'ok';
}

/**
 * The AuthenticationService handed to ts-mls for every stage member of `room` (binding lifetimes
 * are not checked here: ts-mls also validates leaves already in the tree; see the header).
 */
export function directoryAuthService(
  directory: KeyDirectory,
  room: string,
  onReject?: (device: DeviceRef | undefined, verdict: CredentialVerdict) => void,
): AuthenticationService {
  return {
    async validateCredential(credential: Credential, signaturePublicKey: Uint8Array): Promise<boolean> {
      const verdict = await checkCredential(directory, credential, signaturePublicKey, { room });
      if (verdict !== 'ok') onReject?.(credentialDevice(credential), verdict);
      return verdict === 'ok';
    },
  };
}
