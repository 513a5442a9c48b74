/**
 * The stage (moderators + speakers) as an MLS group (RFC 9420, via ts-mls).
 *
 * - Suite MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519 (WebCrypto only). A member's MLS signature
 *   key is an ephemeral Ed25519 key made for this membership (in memory only: the KeyPackage's
 *   private part, then the MLS state), and its credential carries a binding of that key to the
 *   device and the room, signed by the device's (non-extractable) identity key. Every leaf is
 *   checked against the key directory (`credentials.ts`), so the roster is exactly "these
 *   devices, each vouching for its leaf key in this room"; `members()` reports each member's
 *   device key (what speaker signatures are checked against) next to its leaf key.
 * - Commits carry their proposals inline, are sent as PrivateMessages, and Welcomes embed the
 *   ratchet tree. Standalone proposals are accepted only for `remove` (a member leaving, or a
 *   moderator's removal another member commits) and `update`.
 * - Every handshake message is also checked by an optional `StagePolicy` (e.g. only moderators
 *   may add or remove) before its epoch is adopted; external commits are refused.
 *
 * Keys per epoch (generation = MLS epoch number, so the 5-minute refresh is an empty commit,
 * `refresh()`, which also heals a compromised member key):
 * ```
 * base_key   = MLS-Exporter("sotto sframe base", u64be(generation), 16)     (AES_128_GCM)
 * KID(leaf)  = encodeKid({ generation, step, leaf })     — each speaker's own sframe_key/salt
 * code       = 6 groups of 5 digits from SHA-256("sotto/e2ee/v1/security-code" 0x00 ‖ epoch_authenticator)
 * ```
 *
 * The committer adopts its own commit immediately; the caller must deliver the commit to the
 * others in the order the app server sequences them (concurrent commits: the loser must rejoin).
 */
import {
  type CiphersuiteImpl,
  type ClientConfig,
  type ClientState,
  type Credential,
  createCommit,
  createGroup,
  createProposal,
  decodeMlsMessage,
  defaultCapabilities,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  type IncomingMessageAction,
  type IncomingMessageCallback,
  joinGroup,
  type KeyPackage,
  type Lifetime,
  type MLSMessage,
  mlsExporter,
  type PrivateKeyPackage,
  type Proposal,
  processMessage,
  type Welcome,
  zeroOutUint8Array,
} from 'ts-mls';
import type { SpeakerRoster } from '../auth/speaker-sig.ts';
import type { DeviceIdentityKeys, DeviceRef, KeyDirectory } from '../identity/device.ts';
import { digitGroups } from '../identity/safety-number.ts';
import { concatBytes, encodeBigEndian, utf8 } from '../sframe/bytes.ts';
import type { SFrameContext } from '../sframe/context.ts';
import { decodeKid, encodeKid, MAX_GENERATION, MAX_LEAF_INDEX, ratchetForward } from '../sframe/kid.ts';
import {
  bindingLifetimeVerdict,
  type CredentialVerdict,
  checkCredential,
  createDeviceCredential,
  credentialDevice,
  credentialInfo,
  directoryAuthService,
} from './credentials.ts';

export const STAGE_CIPHERSUITE = 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519' as const;
export const SFRAME_EXPORTER_LABEL = 'sotto sframe base';
export const SECURITY_CODE_LABEL = 'sotto/e2ee/v1/security-code';
/** SFrame base key length for AES_128_GCM_SHA256_128. */
export const SFRAME_BASE_KEY_BYTES = 16;
/** KeyPackages are made when a device takes the stage; they need not live long. */
export const KEY_PACKAGE_LIFETIME_SECONDS = 7 * 24 * 3600;
const ROSTER_HISTORY = 3;

export type StageErrorCode =
  /** A credential does not match the key directory (or is not a Sotto device credential). */
  | 'credential_rejected'
  /** The StagePolicy (or the built-in proposal rules) refused a handshake message. */
  | 'policy_rejected'
  /** ts-mls refused the message: wrong group/epoch, not from a member, bad signature or MAC, … */
  | 'rejected'
  /** Bytes are not the expected MLS message. */
  | 'bad_message'
  /** This member has been removed; it has no current epoch. */
  | 'removed'
  /** A member, leaf or argument that does not exist or is out of range. */
  | 'invalid_argument';

export class StageError extends Error {
  readonly code: StageErrorCode;
  /** For 'credential_rejected': why the credential was refused, when known. */
  readonly verdict: CredentialVerdict | undefined;
  constructor(
    code: StageErrorCode,
    message?: string,
    options?: { cause?: unknown; verdict?: CredentialVerdict },
  ) {
    super(message === undefined ? `stage: ${code}` : `stage: ${code}: ${message}`, options);
    this.name = 'StageError';
    this.code = code;
    this.verdict = options?.verdict;
  }
}

export interface StageMemberInfo extends DeviceRef {
  /** MLS leaf index: the `leaf` field of this member's SFrame KIDs. */
  readonly leaf: number;
  /**
   * The device's Ed25519 identity key, from its credential (checked against the key directory
   * and the binding when the leaf was accepted): speaker signatures verify against it.
   */
  readonly signingPublicKey: Uint8Array;
  /** The leaf's MLS signature key: ephemeral, made for this membership, bound by the credential. */
  readonly leafSignaturePublicKey: Uint8Array;
}

/** What an incoming (or outgoing) commit would change, for `StagePolicy`. */
export interface StageChange {
  /** The committer (undefined: not a member — always refused). */
  readonly committer: StageMemberInfo | undefined;
  readonly adds: readonly DeviceRef[];
  readonly removes: readonly StageMemberInfo[];
  /** Standalone proposal (true) or commit (false). */
  readonly proposalOnly: boolean;
}

/** Return false to refuse a handshake message (e.g. a speaker trying to add someone). */
export type StagePolicy = (change: StageChange) => boolean;

export interface StageOptions {
  readonly keys: DeviceIdentityKeys;
  readonly directory: KeyDirectory;
  /**
   * The room this stage is for (1–255 UTF-8 bytes, e.g. the app's room id): every leaf's binding
   * must name it, so a credential made for one room is refused in every other.
   */
  readonly room: string;
  readonly policy?: StagePolicy;
}

/**
 * A KeyPackage made for joining a stage: publish `message`, keep the rest (in memory: its private
 * part holds the membership's ephemeral MLS signature key) until the Welcome.
 */
export interface PendingJoin {
  /** Encoded MLSMessage (mls_key_package) to hand to a moderator. */
  readonly message: Uint8Array;
  readonly keyPackage: KeyPackage;
  readonly privatePackage: PrivateKeyPackage;
}

export interface CommitOutput {
  /** Encoded MLSMessage to send to every other current member (and the removed ones). */
  readonly commit: Uint8Array;
  /** Encoded Welcome for the added members, if any. */
  readonly welcome?: Uint8Array;
  readonly epoch: bigint;
}

export type StageEvent =
  | { readonly kind: 'commit'; readonly epoch: bigint; readonly change: StageChange }
  | { readonly kind: 'proposal'; readonly change: StageChange }
  | { readonly kind: 'removed'; readonly epoch: bigint; readonly change: StageChange };

export interface EpochKeys {
  readonly epoch: bigint;
  /** SFrame generation (= epoch). */
  readonly generation: number;
  /** SFrame base key shared by the stage for this generation (16 bytes). */
  readonly baseKey: Uint8Array;
  /** Room security code: 6 groups of 5 digits, the same for every member of the epoch. */
  readonly securityCode: string;
}

let suitePromise: Promise<CiphersuiteImpl> | undefined;

export function stageCiphersuite(): Promise<CiphersuiteImpl> {
  suitePromise ??= getCiphersuiteImpl(getCiphersuiteFromName(STAGE_CIPHERSUITE));
  return suitePromise;
}

/** The last credential verdict ts-mls's calls to our AuthenticationService refused. */
interface RejectLog {
  last: CredentialVerdict | undefined;
}

function clientConfig(directory: KeyDirectory, room: string, log: RejectLog): ClientConfig {
  return {
    keyRetentionConfig: defaultKeyRetentionConfig,
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService: directoryAuthService(directory, room, (_device, verdict) => {
      log.last = verdict;
    }),
  };
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

function wipeAll(secrets: readonly Uint8Array[]): void {
  for (const s of secrets) zeroOutUint8Array(s);
}

function decode(bytes: Uint8Array): MLSMessage {
  let decoded: ReturnType<typeof decodeMlsMessage>;
  try {
    decoded = decodeMlsMessage(bytes, 0);
  } catch (e) {
    throw new StageError('bad_message', 'undecodable MLS message', { cause: e });
  }
  if (decoded === undefined || decoded[1] !== bytes.length) {
    throw new StageError('bad_message', 'undecodable MLS message');
  }
  return decoded[0];
}

/**
 * Makes a KeyPackage for this device to join the stage of `room`: a fresh ephemeral MLS
 * signature key pair (memory only) and a credential whose binding the device key signs.
 */
export async function createStageKeyPackage(
  keys: Pick<DeviceIdentityKeys, 'identity' | 'signingKey'>,
  room: string,
): Promise<PendingJoin> {
  const cs = await stageCiphersuite();
  const now = BigInt(nowSeconds());
  const lifetime: Lifetime = { notBefore: now - 3600n, notAfter: now + BigInt(KEY_PACKAGE_LIFETIME_SECONDS) };
  const leafKeys = await cs.signature.keygen();
  let credential: Credential;
  try {
    credential = await createDeviceCredential(keys, leafKeys.publicKey, room, Number(lifetime.notAfter));
  } catch (e) {
    zeroOutUint8Array(leafKeys.signKey);
    throw new StageError('invalid_argument', 'cannot make the device credential', { cause: e });
  }
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey(
    credential,
    defaultCapabilities(),
    lifetime,
    [],
    leafKeys,
    cs,
  );
  const message = encodeMlsMessage({
    version: 'mls10',
    wireformat: 'mls_key_package',
    keyPackage: publicPackage,
  });
  return { message, keyPackage: publicPackage, privatePackage };
}

/** Decodes a KeyPackage message (no validation beyond the encoding). */
export function decodeKeyPackage(bytes: Uint8Array): KeyPackage {
  const m = decode(bytes);
  if (m.wireformat !== 'mls_key_package') throw new StageError('bad_message', `expected a KeyPackage`);
  return m.keyPackage;
}

export class StageMember {
  private state: ClientState;
  private readonly directory: KeyDirectory;
  private readonly room: string;
  private readonly policy: StagePolicy | undefined;
  /** Shared with the AuthenticationService in this member's MLS state (see clientConfig). */
  private readonly rejects: RejectLog;
  private queue: Promise<unknown> = Promise.resolve();
  /** Signing keys by leaf for the last few generations (frames of the previous epoch still arrive). */
  private readonly rosters = new Map<number, Map<number, Uint8Array>>();

  private constructor(state: ClientState, options: StageOptions, rejects: RejectLog) {
    this.directory = options.directory;
    this.room = options.room;
    this.policy = options.policy;
    this.rejects = rejects;
    this.state = state;
    this.recordRoster();
  }

  private setState(state: ClientState): void {
    this.state = state;
    this.recordRoster();
  }

  private recordRoster(): void {
    if (this.state.groupActiveState.kind !== 'active') return;
    const generation = Number(this.state.groupContext.epoch);
    this.rosters.set(generation, new Map(rosterOf(this.state).map((m) => [m.leaf, m.signingPublicKey])));
    for (const g of this.rosters.keys()) if (g < generation - ROSTER_HISTORY + 1) this.rosters.delete(g);
  }

  /**
   * KID → signing key of the stage member who owns it, for SpeakerVerifier: the KID's
   * generation must be one of the last 3 epochs this member saw, its leaf a member then.
   */
  speakerRoster(): SpeakerRoster {
    return (kid: bigint) => {
      const { generation, leaf } = decodeKid(kid);
      return this.rosters.get(generation)?.get(leaf);
    };
  }

  /** A moderator opens the stage: a one-member group under `groupId` (a random room id). */
  static async create(options: StageOptions, groupId: Uint8Array): Promise<StageMember> {
    if (groupId.length === 0) throw new StageError('invalid_argument', 'empty group id');
    const cs = await stageCiphersuite();
    const pending = await createStageKeyPackage(options.keys, options.room);
    const own = await checkCredential(
      options.directory,
      pending.keyPackage.leafNode.credential,
      pending.keyPackage.leafNode.signaturePublicKey,
      { room: options.room, checkLifetimeAt: nowSeconds() },
    );
    if (own !== 'ok') {
      zeroOutUint8Array(pending.privatePackage.signaturePrivateKey);
      throw new StageError('credential_rejected', `own device: ${own}`, { verdict: own });
    }
    const rejects: RejectLog = { last: undefined };
    const state = await createGroup(
      Uint8Array.from(groupId),
      pending.keyPackage,
      pending.privatePackage,
      [],
      cs,
      clientConfig(options.directory, options.room, rejects),
    );
    return new StageMember(state, options, rejects);
  }

  /**
   * Joins from a Welcome made for `pending`'s KeyPackage. Every leaf of the received tree (and
   * the GroupInfo signer) is checked against the key directory.
   */
  static async join(
    options: StageOptions,
    welcomeBytes: Uint8Array,
    pending: PendingJoin,
    expectedGroupId?: Uint8Array,
  ): Promise<StageMember> {
    const m = decode(welcomeBytes);
    if (m.wireformat !== 'mls_welcome') throw new StageError('bad_message', 'expected a Welcome');
    const welcome: Welcome = m.welcome;
    const cs = await stageCiphersuite();
    const rejects: RejectLog = { last: undefined };
    let state: ClientState;
    try {
      state = await joinGroup(
        welcome,
        pending.keyPackage,
        pending.privatePackage,
        emptyPskIndex,
        cs,
        undefined,
        undefined,
        clientConfig(options.directory, options.room, rejects),
      );
    } catch (e) {
      throw classify(e, rejects);
    }
    if (expectedGroupId !== undefined && !sameBytes(state.groupContext.groupId, expectedGroupId)) {
      throw new StageError('rejected', 'Welcome is for another group');
    }
    rejects.last = undefined;
    return new StageMember(state, options, rejects);
  }

  /** Current MLS state (immutable snapshot; for tests, benches and persistence). */
  get mlsState(): ClientState {
    return this.state;
  }

  get groupId(): Uint8Array {
    return this.state.groupContext.groupId;
  }

  get epoch(): bigint {
    return this.state.groupContext.epoch;
  }

  /** Our own leaf index (the `leaf` of the KIDs we send under). */
  get leafIndex(): number {
    return this.state.privatePath.leafIndex;
  }

  get active(): boolean {
    return this.state.groupActiveState.kind === 'active';
  }

  /** The stage roster of the current epoch, by leaf index. */
  members(): StageMemberInfo[] {
    return rosterOf(this.state);
  }

  member(leaf: number): StageMemberInfo | undefined {
    return memberAt(this.state, leaf);
  }

  /** Leaf index of a device on the stage, if it is a member. */
  findLeaf(device: DeviceRef): number | undefined {
    return this.members().find((m) => m.userId === device.userId && m.deviceId === device.deviceId)?.leaf;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private requireActive(): void {
    if (this.state.groupActiveState.kind === 'removedFromGroup') {
      throw new StageError('removed', 'this device is no longer on the stage');
    }
    if (this.state.groupActiveState.kind !== 'active') throw new StageError('removed', 'group suspended');
  }

  /** Adds devices from their KeyPackage messages: one commit + one Welcome. */
  add(keyPackageMessages: readonly Uint8Array[]): Promise<CommitOutput> {
    return this.commit({ add: keyPackageMessages, remove: [] });
  }

  /** Removes members (by leaf index or device). */
  remove(members: ReadonlyArray<number | DeviceRef>): Promise<CommitOutput> {
    return this.commit({ add: [], remove: members });
  }

  /**
   * An empty commit with a fresh UpdatePath: new epoch, new SFrame generation, our leaf key
   * replaced (the periodic refresh), and any pending proposals (e.g. a `leave`) applied.
   */
  refresh(): Promise<CommitOutput> {
    return this.commit({ add: [], remove: [] });
  }

  /** Creates, checks and adopts a commit. */
  commit(request: {
    add: readonly Uint8Array[];
    remove: ReadonlyArray<number | DeviceRef>;
  }): Promise<CommitOutput> {
    return this.serial(async () => {
      this.requireActive();
      const cs = await stageCiphersuite();
      const proposals: Proposal[] = [];
      const adds: DeviceRef[] = [];
      for (const bytes of request.add) {
        const kp = decodeKeyPackage(bytes);
        if (kp.cipherSuite !== STAGE_CIPHERSUITE) throw new StageError('bad_message', 'wrong cipher suite');
        const device = credentialDevice(kp.leafNode.credential);
        const verdict = await checkCredential(
          this.directory,
          kp.leafNode.credential,
          kp.leafNode.signaturePublicKey,
          { room: this.room, checkLifetimeAt: nowSeconds() },
        );
        if (device === undefined || verdict !== 'ok') {
          throw new StageError('credential_rejected', `KeyPackage credential: ${verdict}`, { verdict });
        }
        adds.push(device);
        proposals.push({ proposalType: 'add', add: { keyPackage: kp } });
      }
      const removes: StageMemberInfo[] = [];
      for (const target of request.remove) {
        const leaf = typeof target === 'number' ? target : this.findLeaf(target);
        const info = leaf === undefined ? undefined : memberAt(this.state, leaf);
        if (info === undefined) throw new StageError('invalid_argument', 'no such member');
        if (info.leaf === this.leafIndex) throw new StageError('invalid_argument', 'use leave() to leave');
        removes.push(info);
        proposals.push({ proposalType: 'remove', remove: { removed: info.leaf } });
      }
      const pendingRemoves = Object.values(this.state.unappliedProposals).flatMap((p) =>
        p.proposal.proposalType === 'remove' ? [memberAt(this.state, p.proposal.remove.removed)] : [],
      );
      const change: StageChange = {
        committer: memberAt(this.state, this.leafIndex),
        adds,
        removes: [...removes, ...pendingRemoves.filter((m): m is StageMemberInfo => m !== undefined)],
        proposalOnly: false,
      };
      if (this.policy !== undefined && !this.policy(change)) {
        throw new StageError('policy_rejected', 'our own policy refuses this commit');
      }
      let result: Awaited<ReturnType<typeof createCommit>>;
      this.rejects.last = undefined;
      try {
        result = await createCommit(
          { state: this.state, cipherSuite: cs },
          { extraProposals: proposals, ratchetTreeExtension: true },
        );
      } catch (e) {
        throw classify(e, this.rejects);
      }
      wipeAll(result.consumed);
      this.setState(result.newState);
      const welcome =
        result.welcome === undefined
          ? undefined
          : encodeMlsMessage({ version: 'mls10', wireformat: 'mls_welcome', welcome: result.welcome });
      return {
        commit: encodeMlsMessage(result.commit),
        ...(welcome === undefined ? {} : { welcome }),
        epoch: this.epoch,
      };
    });
  }

  /**
   * Asks to leave (a Remove proposal for our own leaf). Another member commits it (any commit,
   * e.g. `refresh()`); we stop being a member when we process that commit.
   */
  leave(): Promise<Uint8Array> {
    return this.serial(async () => {
      this.requireActive();
      const cs = await stageCiphersuite();
      const { newState, message, consumed } = await createProposal(
        this.state,
        false,
        { proposalType: 'remove', remove: { removed: this.leafIndex } },
        cs,
      );
      wipeAll(consumed);
      this.setState(newState);
      return encodeMlsMessage(message);
    });
  }

  /** Processes a commit or proposal from another member. Throws StageError on anything refused. */
  processMessage(bytes: Uint8Array): Promise<StageEvent> {
    return this.serial(async () => {
      this.requireActive();
      const m = decode(bytes);
      if (m.wireformat !== 'mls_private_message' && m.wireformat !== 'mls_public_message') {
        throw new StageError('bad_message', `unexpected ${m.wireformat}`);
      }
      const cs = await stageCiphersuite();
      let seen: StageChange | undefined;
      let refusal: StageError | undefined;
      const before = this.state;
      const now = nowSeconds();
      const callback: IncomingMessageCallback = (incoming): IncomingMessageAction => {
        const proposals =
          incoming.kind === 'commit'
            ? incoming.proposals
            : [{ proposal: incoming.proposal.proposal, senderLeafIndex: incoming.proposal.senderLeafIndex }];
        const senderLeaf =
          incoming.kind === 'commit' ? incoming.senderLeafIndex : incoming.proposal.senderLeafIndex;
        const adds: DeviceRef[] = [];
        const removes: StageMemberInfo[] = [];
        for (const p of proposals) {
          switch (p.proposal.proposalType) {
            case 'add': {
              const info = credentialInfo(p.proposal.add.keyPackage.leafNode.credential);
              if (info === undefined || incoming.kind === 'proposal') {
                refusal = new StageError('policy_rejected', 'standalone Add proposals are not used');
                return 'reject';
              }
              // ts-mls checked the binding (our AuthenticationService); a leaf entering from a
              // KeyPackage must also be within its binding's lifetime
              const lifetime = bindingLifetimeVerdict(info.notAfter, now);
              if (lifetime !== 'ok') {
                refusal = new StageError('credential_rejected', `added KeyPackage: ${lifetime}`, {
                  verdict: lifetime,
                });
                return 'reject';
              }
              adds.push({ userId: info.userId, deviceId: info.deviceId });
              break;
            }
            case 'remove': {
              const info = memberAt(before, p.proposal.remove.removed);
              if (info === undefined) {
                refusal = new StageError('policy_rejected', 'remove of an empty leaf');
                return 'reject';
              }
              removes.push(info);
              break;
            }
            case 'update':
              break;
            default:
              refusal = new StageError('policy_rejected', `proposal ${p.proposal.proposalType} is not used`);
              return 'reject';
          }
        }
        const committer = senderLeaf === undefined ? undefined : memberAt(before, senderLeaf);
        seen = { committer, adds, removes, proposalOnly: incoming.kind === 'proposal' };
        if (committer === undefined) {
          refusal = new StageError('rejected', 'handshake from a non-member');
          return 'reject';
        }
        if (this.policy !== undefined && !this.policy(seen)) {
          refusal = new StageError('policy_rejected', 'stage policy refused the change');
          return 'reject';
        }
        return 'accept';
      };
      let result: Awaited<ReturnType<typeof processMessage>>;
      this.rejects.last = undefined;
      try {
        result = await processMessage(m, before, emptyPskIndex, callback, cs);
      } catch (e) {
        throw classify(e, this.rejects);
      }
      // On refusal keep the old state and do NOT wipe `consumed`: those secrets are still
      // referenced by the state we keep.
      if (refusal !== undefined) throw refusal;
      if (result.kind === 'applicationMessage') {
        throw new StageError('bad_message', 'application messages are not used on the stage');
      }
      if (result.actionTaken === 'reject' || seen === undefined) throw new StageError('policy_rejected');
      wipeAll(result.consumed);
      this.setState(result.newState);
      const change: StageChange = seen;
      if (change.proposalOnly) return { kind: 'proposal', change };
      if (this.state.groupActiveState.kind === 'removedFromGroup') {
        return { kind: 'removed', epoch: this.epoch, change };
      }
      return { kind: 'commit', epoch: this.epoch, change };
    });
  }

  private requireKeys(): void {
    this.requireActive();
    if (this.epoch > BigInt(MAX_GENERATION))
      throw new StageError('invalid_argument', 'epoch beyond KID range');
  }

  /** SFrame base key of the current epoch: MLS-Exporter("sotto sframe base", u64be(gen), 16). */
  async sframeBaseKey(length: number = SFRAME_BASE_KEY_BYTES): Promise<Uint8Array> {
    this.requireKeys();
    const cs = await stageCiphersuite();
    return mlsExporter(
      this.state.keySchedule.exporterSecret,
      SFRAME_EXPORTER_LABEL,
      encodeBigEndian(this.epoch, 8),
      length,
      cs,
    );
  }

  /** The room security code of the current epoch (6 groups of 5 digits). */
  async securityCode(): Promise<string> {
    this.requireKeys();
    return securityCodeFrom(this.state.keySchedule.epochAuthenticator);
  }

  async epochKeys(): Promise<EpochKeys> {
    const [baseKey, securityCode] = await Promise.all([this.sframeBaseKey(), this.securityCode()]);
    return { epoch: this.epoch, generation: Number(this.epoch), baseKey, securityCode };
  }

  /** The KID this member (or `leaf`) sends under in the current epoch at ratchet `step`. */
  kid(leaf: number = this.leafIndex, step = 0): bigint {
    this.requireKeys();
    return encodeKid({ generation: Number(this.epoch), step, leaf });
  }

  /**
   * Installs this epoch's stage keys into an SFrameContext: our KID for encryption, every other
   * member's KID for decryption (ratchet `step`, default 0). Returns our KID.
   */
  async installSFrameKeys(ctx: SFrameContext, step = 0): Promise<bigint> {
    const epochBase = await this.sframeBaseKey();
    const base = step === 0 ? epochBase : await ratchetForward(epochBase, step);
    try {
      const own = this.kid(this.leafIndex, step);
      const installs: Promise<void>[] = [ctx.addEncryptionKey(own, base)];
      for (const m of this.members()) {
        if (m.leaf !== this.leafIndex) installs.push(ctx.addDecryptionKey(this.kid(m.leaf, step), base));
      }
      await Promise.all(installs);
      return own;
    } finally {
      base.fill(0);
      epochBase.fill(0);
    }
  }
}

/** 6 groups of 5 digits from SHA-256(label ‖ 0x00 ‖ epoch_authenticator). */
export async function securityCodeFrom(epochAuthenticator: Uint8Array): Promise<string> {
  const h = new Uint8Array(
    await globalThis.crypto.subtle.digest(
      'SHA-256',
      concatBytes(utf8(SECURITY_CODE_LABEL), Uint8Array.of(0), epochAuthenticator),
    ),
  );
  return digitGroups(h, 6).join(' ');
}

function memberAt(state: ClientState, leaf: number): StageMemberInfo | undefined {
  if (!Number.isSafeInteger(leaf) || leaf < 0 || leaf > MAX_LEAF_INDEX) return undefined;
  const node = state.ratchetTree[leaf * 2];
  if (node === undefined || node.nodeType !== 'leaf') return undefined;
  const info = credentialInfo(node.leaf.credential);
  if (info === undefined) return undefined;
  return {
    userId: info.userId,
    deviceId: info.deviceId,
    leaf,
    signingPublicKey: info.devicePublicKey,
    leafSignaturePublicKey: node.leaf.signaturePublicKey,
  };
}

function rosterOf(state: ClientState): StageMemberInfo[] {
  const out: StageMemberInfo[] = [];
  for (let i = 0; i < state.ratchetTree.length; i += 2) {
    const m = memberAt(state, i / 2);
    if (m !== undefined) out.push(m);
  }
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function classify(e: unknown, rejects?: RejectLog): StageError {
  if (e instanceof StageError) return e;
  const message = e instanceof Error ? e.message : String(e);
  const verdict = rejects?.last;
  if (verdict !== undefined || /credential/i.test(message)) {
    return new StageError(
      'credential_rejected',
      verdict === undefined ? message : `${message} (${verdict})`,
      {
        cause: e,
        ...(verdict === undefined ? {} : { verdict }),
      },
    );
  }
  return new StageError('rejected', message, { cause: e });
}
