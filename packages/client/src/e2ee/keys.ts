/**
 * Room key management (main thread). Who may decrypt is decided by the app server's RoomState
 * (SSE), which maps each media handle to the device keys the member joined with; the media node
 * only relays ciphertext data packets (topic `sotto.e2ee`).
 *
 * The stage (moderators + speakers) is an MLS group (RFC 9420, `StageMember` from @sotto/e2ee):
 *  - One stage member is the key holder: the first stage member (moderators first, in stage
 *    order) whose join carries a device. It creates the group, and it alone commits: it adds a
 *    stage member from the KeyPackage that member sends (`want` with `kp`) once RoomState lists
 *    it on stage, and removes members RoomState no longer lists on stage, in one commit. The
 *    commit goes to the other members, the Welcome to the newcomer, as data packets.
 *  - Every member validates every leaf against the key directory (the device keys RoomState lists
 *    per member; never accept-anything): a leaf's MLS signature key is ephemeral (made per stage
 *    membership, memory only) and its credential carries a binding to the device and this room
 *    signed by the device key. Members accept handshakes only from the current key holder
 *    adding devices that RoomState lists on stage (`StagePolicy`).
 *  - Each epoch is an SFrame generation: `generation = base + epoch`, where `base` (u64, the first
 *    8 bytes of the group id) is chosen above every generation seen when the group is created, so
 *    generations only grow even when a new holder has to start a new group. The base key is the
 *    MLS exporter's, each member sends under its own KID leaf = its MLS leaf, and the room
 *    security code comes from the epoch authenticator.
 *  - When the holder leaves the stage, the next one takes over: if it is in the group it commits
 *    the removal (a new epoch), otherwise it starts a new group; members of a group the holder is
 *    not in drop it and send a fresh KeyPackage.
 *
 * Listeners (and stage members waiting for their Welcome, who may listen but not send) stay out
 * of MLS: the holder gives each a KEK once (HPKE to the device X25519 key, `createListenerKek`)
 * and every epoch's key under it (`kekWrap`, 60 bytes). A new listener (who asks with `want`)
 * is admitted only after the holder ratchets the epoch key one step forward (RFC 9605 §5.1) and
 * tells everyone to move on (`step`), so it cannot read what was said before it joined. Leaves
 * start a new epoch (an empty MLS commit), batched (`leaveBatchMs`); a moderator's `rekey` (after
 * a removal) at once; and every `refreshMs` (5 minutes). Old keys are deleted `graceMs` after.
 *
 * Every message is signed with the sender's device Ed25519 key and checked against the device
 * keys RoomState lists for the sender's handle. The app server could still swap device keys (it
 * is the directory): safety numbers, TOFU and the room security code are what detect that.
 */
import type { Member, RoomState } from '@sotto/app/api';
import {
  createListenerKek,
  createStageKeyPackage,
  credentialDevice,
  type DeviceIdentity,
  type DeviceIdentityKeys,
  decodeKeyPackage,
  importVerifyKey,
  type KeyDirectory,
  kekUnwrap,
  kekWrap,
  keyWrapContext,
  openListenerKek,
  type PendingJoin,
  ratchetBaseKey,
  type StageChange,
  StageMember,
  signEd25519,
  verifyEd25519,
  type WrapKeyPair,
} from '@sotto/e2ee';
import { fromB64u, toB64u } from './b64.ts';

export const E2EE_TOPIC = 'sotto.e2ee';
/** Data-packet topic of speaker signatures (`SpeakerSigner` messages, to everyone in the room). */
export const SPEAKER_SIG_TOPIC = 'sotto.sig';
const SIG_LABEL = new TextEncoder().encode('sotto/e2ee/v1/key-message\0');

/** What the key manager drives: the frame worker (or a FrameCrypto directly, in tests). */
export interface FrameKeySink {
  setBaseKey(generation: number, step: number, key: Uint8Array): void;
  setSendKey(key: { generation: number; step: number; leaf: number }): void;
  /** Stop sending (off the stage, or out of the stage group): frames are dropped, never sent in clear. */
  clearSendKey(): void;
  forgetBefore(generation: number, step?: number): void;
}

export interface LocalDevice {
  userId: string;
  deviceId: string;
  /** Ed25519 device key (non-extractable): signs key messages, speaker signatures, MLS leaf bindings. */
  signingKey: CryptoKey;
  signingPublicKey: Uint8Array;
  /** X25519 key pair for opening key wraps (WebCrypto; private key non-extractable). */
  hpke: WrapKeyPair;
  hpkePublicKey: Uint8Array;
}

/** Signing keys of the stage by SFrame generation, then KID leaf (for speaker signatures). */
export type StageRosters = ReadonlyMap<number, ReadonlyMap<number, Uint8Array>>;

export interface KeyManagerOptions {
  roomId: string;
  handle: string;
  device: LocalDevice;
  sink: FrameKeySink;
  /** Sends a data packet (reliable, topic E2EE_TOPIC) to these handles. */
  send(payload: Uint8Array, to: string[]): void;
  /** A new epoch (stage members) or generation (listeners) is in use. */
  onEpoch?: (info: EpochInfo) => void;
  leaveBatchMs?: number;
  refreshMs?: number;
  graceMs?: number;
  wantRetryMs?: number;
  log?: (msg: string) => void;
}

export interface EpochInfo {
  generation: number;
  /** Room security code of the MLS epoch (stage members only; null for listeners). */
  securityCode: string | null;
  /** Stage roster of this generation: KID leaf → signing key (also sent to listeners). */
  roster: ReadonlyMap<number, Uint8Array>;
  /** ms spent in MLS for this epoch (commit or process, plus key export); null for listeners. */
  mlsMs: number | null;
}

type Body =
  | { t: 'want'; from: string; room: string; kp?: string }
  | { t: 'rekey'; from: string; room: string }
  | { t: 'step'; from: string; room: string; gen: number; step: number }
  | {
      t: 'key';
      from: string;
      to: string;
      room: string;
      gen: number;
      step: number;
      /** The stage roster of this generation: [leaf, signing key] pairs. */
      roster: [number, string][];
      kek?: string;
      wrapped: string;
    }
  | { t: 'welcome'; from: string; to: string; room: string; welcome: string }
  | { t: 'commit'; from: string; room: string; commit: string };

/** As key holder: the current epoch's key at its current ratchet step. */
interface Held {
  gen: number;
  step: number;
  key: Uint8Array;
  /** Non-members given this generation's key. */
  admitted: Set<string>;
  roster: [number, string][];
}

function devKey(userId: string, deviceId: string): string {
  return `${userId.length}:${userId}/${deviceId}`;
}

function groupBase(groupId: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < 8; i++) n = n * 256 + (groupId[i] ?? 0);
  return n;
}

export class KeyManager {
  readonly #o: Required<Omit<KeyManagerOptions, 'log' | 'onEpoch'>> &
    Pick<KeyManagerOptions, 'log' | 'onEpoch'>;
  #state: RoomState | null = null;
  #known = new Set<string>();
  /** Every device RoomState listed in this session: the key directory MLS credentials are checked against. */
  readonly #devices = new Map<string, DeviceIdentity>();
  /** Our MLS stage state (holder or member), null when we are not in a stage group. */
  #stage: StageMember | null = null;
  /** Our KeyPackage while we wait for a Welcome. */
  #pendingJoin: { pending: PendingJoin; b64: string } | null = null;
  /** As holder: KeyPackages received from stage members (by handle), and the one added per device. */
  readonly #kps = new Map<string, string>();
  readonly #addedKp = new Map<string, string>();
  /** As key holder. */
  #held: Held | null = null;
  #maxGen = 0;
  /** The newest generation we have and our leaf in it (null: we may not send). */
  #current: { gen: number; step: number; leaf: number | null } | null = null;
  /** A `step` for a generation we did not have yet (it arrived before the commit/Welcome). */
  #earlyStep: { gen: number; step: number } | null = null;
  readonly #rosters = new Map<number, Map<number, Uint8Array>>();
  #securityCode: string | null = null;
  readonly #keksOut = new Map<string, CryptoKey>();
  readonly #keksIn = new Map<string, CryptoKey>();
  #leaveTimer: ReturnType<typeof setTimeout> | null = null;
  #refreshTimer: ReturnType<typeof setTimeout> | null = null;
  #wantTimer: ReturnType<typeof setInterval> | null = null;
  #connected = false;
  #closed = false;
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  #queue: Promise<void> = Promise.resolve();
  /** When the first key arrived (performance.now()), for the join-latency figure. */
  firstKeyAt: number | null = null;
  /** MLS timings (ms) of the epochs this manager went through, for figures. */
  readonly mlsTimings: { what: string; ms: number }[] = [];

  constructor(options: KeyManagerOptions) {
    this.#o = {
      leaveBatchMs: 30_000,
      refreshMs: 5 * 60_000,
      graceMs: 10_000,
      wantRetryMs: 2_000,
      ...options,
    };
  }

  get generation(): number | null {
    return this.#held?.gen ?? this.#current?.gen ?? null;
  }
  get isHolder(): boolean {
    return this.#held !== null;
  }
  /** Whether we are in the stage's MLS group. */
  get inStageGroup(): boolean {
    return this.#stage?.active === true;
  }
  /** Room security code of the current MLS epoch (stage members), else null. */
  get securityCode(): string | null {
    return this.#stage?.active ? this.#securityCode : null;
  }
  /** The devices in the stage's MLS group (stage members see who holds the stage keys). */
  get stageDevices(): { userId: string; deviceId: string }[] {
    return this.#stage?.active
      ? this.#stage.members().map((m) => ({ userId: m.userId, deviceId: m.deviceId }))
      : [];
  }
  /** Stage signing keys by generation and leaf (last few generations). */
  get rosters(): StageRosters {
    return this.#rosters;
  }

  /** The media connection is up: data packets can reach us now, so ask for the key. */
  connected(): void {
    this.#connected = true;
    this.#serial(() => this.#onState());
    this.#wantTimer = setInterval(() => {
      if (!this.#hasSendableKey()) this.#want();
    }, this.#o.wantRetryMs);
  }

  /** The worker saw frames of a generation we have no key for. */
  missingKey(generation: number): void {
    if (generation > (this.#current?.gen ?? -1)) this.#want();
  }

  updateState(state: RoomState): void {
    this.#state = state;
    for (const m of [...state.stage, ...state.audience, ...state.handQueue]) {
      if (!m.device) continue;
      this.#devices.set(devKey(m.user.id, m.device.id), {
        userId: m.user.id,
        deviceId: m.device.id,
        signingPublicKey: fromB64u(m.device.signingPublicKey),
        hpkePublicKey: fromB64u(m.device.hpkePublicKey),
      });
    }
    this.#serial(() => this.#onState());
  }

  /** After a moderator removed someone: a new epoch now (asks the holder if it is not us). */
  rekeyNow(): void {
    this.#serial(async () => {
      if (this.#held) await this.#reconcile('removal', true);
      else {
        const holder = this.#holder();
        if (holder)
          await this.#sendBody({ t: 'rekey', from: this.#o.handle, room: this.#o.roomId }, [holder.handle]);
      }
    });
  }

  receive(payload: Uint8Array, fromHandle: string | undefined): void {
    if (!fromHandle) return;
    this.#serial(() => this.#receive(payload, fromHandle));
  }

  /** Resolves once every queued key operation has run (tests). */
  idle(): Promise<void> {
    return this.#queue;
  }

  close(): void {
    this.#closed = true;
    for (const t of [this.#leaveTimer, this.#refreshTimer, ...this.#timers]) if (t) clearTimeout(t);
    if (this.#wantTimer) clearInterval(this.#wantTimer);
    this.#held?.key.fill(0);
    this.#held = null;
    this.#stage = null;
  }

  // ---- internals ------------------------------------------------------------------------------

  #serial(fn: () => Promise<void>): void {
    this.#queue = this.#queue.then(fn).catch((err: unknown) => this.#o.log?.(`e2ee: ${String(err)}`));
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#closed) fn();
    }, ms);
    this.#timers.add(t);
  }

  #members(): Member[] {
    const s = this.#state;
    return s ? [...s.stage, ...s.audience] : [];
  }

  #member(handle: string): Member | undefined {
    return this.#members().find((m) => m.handle === handle);
  }

  #me(): Member | undefined {
    return this.#member(this.#o.handle);
  }

  /** The first stage member that joined with a device. */
  #holder(): Member | undefined {
    return this.#state?.stage.find((m) => m.device !== null && m.handle !== '');
  }

  /** Stage members with a device, by device key. */
  #onStage(): Map<string, Member> {
    const out = new Map<string, Member>();
    for (const m of this.#state?.stage ?? []) if (m.device) out.set(devKey(m.user.id, m.device.id), m);
    return out;
  }

  #directory(): KeyDirectory {
    return { lookup: async (userId, deviceId) => this.#devices.get(devKey(userId, deviceId)) };
  }

  #identityKeys(): DeviceIdentityKeys {
    const d = this.#o.device;
    return {
      identity: {
        userId: d.userId,
        deviceId: d.deviceId,
        signingPublicKey: d.signingPublicKey,
        hpkePublicKey: d.hpkePublicKey,
      },
      signingKey: d.signingKey,
      hpke: d.hpke,
    };
  }

  /** Handshakes are taken only from the current key holder, adding only devices on stage. */
  #policy = (change: StageChange): boolean => {
    const holder = this.#holder();
    const c = change.committer;
    if (!holder?.device || !c || holder.user.id !== c.userId || holder.device.id !== c.deviceId) return false;
    const onStage = this.#onStage();
    return change.adds.every((d) => onStage.has(devKey(d.userId, d.deviceId)));
  };

  #stageOptions() {
    return {
      keys: this.#identityKeys(),
      directory: this.#directory(),
      room: this.#o.roomId,
      policy: this.#policy,
    };
  }

  #hasSendableKey(): boolean {
    if (this.#held) return true;
    if (!this.#current) return false;
    const me = this.#me();
    return me?.role === 'listener' || (this.#current.leaf !== null && this.#stage?.active === true);
  }

  #stopSending(): void {
    if (this.#current) this.#current.leaf = null;
    this.#o.sink.clearSendKey();
  }

  #handleOf(userId: string, deviceId: string): string | undefined {
    return this.#onStage().get(devKey(userId, deviceId))?.handle;
  }

  async #onState(): Promise<void> {
    if (this.#closed || !this.#state || !this.#connected) return;
    const holder = this.#holder();
    const me = this.#me();
    const iAmHolder = holder?.handle === this.#o.handle;
    const present = new Set(
      this.#members()
        .filter((m) => m.device)
        .map((m) => m.handle),
    );
    if (me?.role === 'listener' && this.#stage) {
      // off the stage: stop sending; the holder's removal commit starts a new epoch for listeners
      this.#stage = null;
      this.#pendingJoin = null;
      this.#stopSending();
    }
    if (!iAmHolder && this.#held) {
      // stepped down: stop handing out keys (the new holder starts a new epoch)
      this.#held.key.fill(0);
      this.#held = null;
      if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
      if (this.#leaveTimer) clearTimeout(this.#leaveTimer);
      this.#leaveTimer = null;
    }
    if (!iAmHolder && this.#stage && holder?.device) {
      // a group the holder is not in is over: ask the holder's group for a place
      if (this.#stage.findLeaf({ userId: holder.user.id, deviceId: holder.device.id }) === undefined) {
        this.#o.log?.('e2ee: the key holder is not in our stage group; rejoining');
        this.#stage = null;
        this.#stopSending();
      }
    }
    if (iAmHolder && !this.#held) {
      await this.#takeOver();
    } else if (this.#held) {
      const gone = [...this.#held.admitted].filter((h) => !present.has(h));
      if (gone.length && !this.#leaveTimer) {
        this.#leaveTimer = setTimeout(() => {
          this.#leaveTimer = null;
          this.#serial(() => this.#reconcile('members left', true));
        }, this.#o.leaveBatchMs);
      }
      await this.#reconcile('stage changed');
    } else if (!this.#hasSendableKey()) {
      this.#want();
    }
    for (const h of this.#known) if (!present.has(h)) this.#keksOut.delete(h);
    this.#known = present;
  }

  /** We became the key holder: continue our stage group if we are in one, else start one. */
  async #takeOver(): Promise<void> {
    if (!this.#stage?.active) {
      const t0 = performance.now();
      const base = Math.max(this.#maxGen, this.#current?.gen ?? 0) + 1;
      const groupId = new Uint8Array(24);
      new DataView(groupId.buffer).setBigUint64(0, BigInt(base));
      groupId.set(globalThis.crypto.getRandomValues(new Uint8Array(16)), 8);
      this.#stage = await StageMember.create(this.#stageOptions(), groupId);
      this.#pendingJoin = null;
      this.#addedKp.clear();
      this.mlsTimings.push({ what: 'create', ms: performance.now() - t0 });
      await this.#startHolding('became key holder', await this.#installEpoch(performance.now() - t0));
      await this.#reconcile('became key holder');
    } else {
      // continue the group: a new epoch without the members that left (the old holder)
      await this.#reconcile('took over as key holder', true);
    }
  }

  /**
   * As holder: one commit that adds the stage members whose KeyPackages we have and removes the
   * members RoomState no longer lists on stage; `force` commits even without changes (new epoch).
   */
  async #reconcile(why: string, force = false): Promise<void> {
    const st = this.#stage;
    if (this.#closed || !st?.active || this.#holder()?.handle !== this.#o.handle) return;
    const onStage = this.#onStage();
    const removes = new Set<number>();
    for (const m of st.members()) {
      if (m.leaf !== st.leafIndex && !onStage.has(devKey(m.userId, m.deviceId))) removes.add(m.leaf);
    }
    const adds: { handle: string; b64: string; dev: string }[] = [];
    for (const [handle, b64] of this.#kps) {
      const m = this.#member(handle);
      let ok = false;
      try {
        const kp = decodeKeyPackage(fromB64u(b64));
        const claimed = credentialDevice(kp.leafNode.credential);
        const member = m?.device && m.role !== 'listener' ? m : undefined;
        // the KeyPackage must name the sender's own device (the directory check is ts-mls's, via ours)
        if (member?.device && claimed?.userId === member.user.id && claimed.deviceId === member.device.id) {
          const dev = devKey(member.user.id, member.device.id);
          const leaf = st.findLeaf({ userId: member.user.id, deviceId: member.device.id });
          if (leaf === undefined) ok = true;
          else if (this.#addedKp.get(dev) !== b64) {
            // the device lost its state and sent a fresh KeyPackage: replace its leaf
            removes.add(leaf);
            ok = true;
          }
          if (ok) adds.push({ handle, b64, dev });
        }
      } catch {
        ok = false;
      }
      if (!ok) this.#kps.delete(handle);
    }
    if (!force && removes.size === 0 && adds.length === 0) return;
    const t0 = performance.now();
    let out: Awaited<ReturnType<StageMember['commit']>>;
    try {
      out = await st.commit({ add: adds.map((a) => fromB64u(a.b64)), remove: [...removes] });
    } catch (err) {
      // e.g. a KeyPackage whose credential the directory does not back: drop them, keep the epoch
      this.#o.log?.(`e2ee: stage commit refused (${String(err)})`);
      for (const a of adds) this.#kps.delete(a.handle);
      if (adds.length && (removes.size || force)) await this.#reconcile(why, force);
      return;
    }
    const commitMs = performance.now() - t0;
    this.mlsTimings.push({ what: `commit (${adds.length} add, ${removes.size} remove)`, ms: commitMs });
    const added = new Set(adds.map((a) => a.handle));
    for (const a of adds) {
      this.#kps.delete(a.handle);
      this.#addedKp.set(a.dev, a.b64);
    }
    const recipients: string[] = [];
    for (const m of st.members()) {
      if (m.leaf === st.leafIndex) continue;
      const h = this.#handleOf(m.userId, m.deviceId);
      if (h && !added.has(h)) recipients.push(h);
    }
    if (recipients.length)
      await this.#sendBody(
        { t: 'commit', from: this.#o.handle, room: this.#o.roomId, commit: toB64u(out.commit) },
        recipients,
      );
    if (out.welcome) {
      const welcome = toB64u(out.welcome);
      for (const h of added)
        await this.#sendBody({ t: 'welcome', from: this.#o.handle, to: h, room: this.#o.roomId, welcome }, [
          h,
        ]);
    }
    await this.#startHolding(why, await this.#installEpoch(performance.now() - t0));
  }

  /** Installs the current MLS epoch's keys (stage members, including the holder); returns the base key. */
  async #installEpoch(mlsMs: number): Promise<Uint8Array | null> {
    const st = this.#stage;
    if (!st?.active) return null;
    const t0 = performance.now();
    const keys = await st.epochKeys();
    const gen = groupBase(st.groupId) + Number(keys.epoch);
    this.#maxGen = Math.max(this.#maxGen, gen);
    this.#securityCode = keys.securityCode;
    const roster = new Map(st.members().map((m) => [m.leaf, m.signingPublicKey]));
    this.#rosters.set(gen, roster);
    for (const g of this.#rosters.keys()) if (g < gen - 2) this.#rosters.delete(g);
    const early = this.#earlyStep?.gen === gen ? this.#earlyStep.step : 0;
    this.#earlyStep = null;
    this.#o.sink.setBaseKey(gen, 0, keys.baseKey);
    this.#o.sink.setSendKey({ generation: gen, step: early, leaf: st.leafIndex });
    this.#current = { gen, step: early, leaf: st.leafIndex };
    this.firstKeyAt ??= performance.now();
    this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(gen));
    const ms = mlsMs + performance.now() - t0;
    this.#o.log?.(
      `e2ee: stage epoch ${keys.epoch} = generation ${gen}, leaf ${st.leafIndex} (${ms.toFixed(1)} ms)`,
    );
    this.#o.onEpoch?.({ generation: gen, securityCode: keys.securityCode, roster, mlsMs: ms });
    return keys.baseKey;
  }

  /** As holder: keep the new epoch's key (`key`, from #installEpoch) and hand it to everyone outside the group. */
  async #startHolding(why: string, key: Uint8Array | null): Promise<void> {
    const st = this.#stage;
    if (!st?.active || !key || !this.#current) return;
    if (this.#leaveTimer) clearTimeout(this.#leaveTimer);
    this.#leaveTimer = null;
    this.#held?.key.fill(0);
    const gen = this.#current.gen;
    const roster: [number, string][] = st.members().map((m) => [m.leaf, toB64u(m.signingPublicKey)]);
    const held: Held = { gen, step: 0, key, admitted: new Set(), roster };
    this.#held = held;
    this.#o.log?.(`e2ee: generation ${gen} (${why})`);
    const inGroup = new Set(st.members().map((m) => devKey(m.userId, m.deviceId)));
    for (const m of this.#members()) {
      if (m.handle === this.#o.handle || !m.device || !m.handle) continue;
      if (inGroup.has(devKey(m.user.id, m.device.id))) continue;
      held.admitted.add(m.handle);
      await this.#sendKey(m);
    }
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(
      () => this.#serial(() => this.#reconcile('refresh', true)),
      this.#o.refreshMs,
    );
  }

  #want(): void {
    if (this.#held || !this.#connected) return;
    const holder = this.#holder();
    if (!holder || holder.handle === this.#o.handle) return;
    this.#serial(async () => {
      // stage group members get their keys from MLS commits, not from `want`
      if (this.#held || this.#stage?.active) return;
      const me = this.#me();
      let kp: string | undefined;
      if (me && me.role !== 'listener' && !this.#stage?.active) {
        if (!this.#pendingJoin) {
          const pending = await createStageKeyPackage(this.#identityKeys(), this.#o.roomId);
          this.#pendingJoin = { pending, b64: toB64u(pending.message) };
        }
        kp = this.#pendingJoin.b64;
      }
      await this.#sendBody({ t: 'want', from: this.#o.handle, room: this.#o.roomId, ...(kp ? { kp } : {}) }, [
        holder.handle,
      ]);
    });
  }

  /** Ratchets the held generation one step and tells everyone to move on. */
  async #ratchet(): Promise<void> {
    const g = this.#held;
    const st = this.#stage;
    if (!g || !st) return;
    const next = await ratchetBaseKey(g.key);
    g.key.fill(0);
    g.key = next;
    g.step++;
    this.#o.sink.setSendKey({ generation: g.gen, step: g.step, leaf: st.leafIndex });
    if (this.#current?.gen === g.gen) this.#current.step = g.step;
    const step = g.step;
    const to = new Set<string>();
    for (const m of this.#members())
      if (m.handle !== this.#o.handle && g.admitted.has(m.handle)) to.add(m.handle);
    for (const m of st.members()) {
      const h = m.leaf === st.leafIndex ? undefined : this.#handleOf(m.userId, m.deviceId);
      if (h) to.add(h);
    }
    if (to.size)
      await this.#sendBody({ t: 'step', from: this.#o.handle, room: this.#o.roomId, gen: g.gen, step }, [
        ...to,
      ]);
    this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(g.gen, step));
  }

  async #sendKey(m: Member): Promise<void> {
    const g = this.#held;
    if (!g || !m.device) return;
    let kek = this.#keksOut.get(m.handle);
    let kekWrapped: string | undefined;
    if (!kek) {
      const made = await createListenerKek(
        fromB64u(m.device.hpkePublicKey),
        this.#kekContext(this.#o.handle, m.handle),
      );
      kek = made.key;
      kekWrapped = toB64u(made.wrapped);
      this.#keksOut.set(m.handle, kek);
    }
    const wrapped = await kekWrap(kek, g.key, this.#keyContext(this.#o.handle, m.handle, g.gen, g.step));
    await this.#sendBody(
      {
        t: 'key',
        from: this.#o.handle,
        to: m.handle,
        room: this.#o.roomId,
        gen: g.gen,
        step: g.step,
        roster: g.roster,
        ...(kekWrapped ? { kek: kekWrapped } : {}),
        wrapped: toB64u(wrapped),
      },
      [m.handle],
    );
  }

  #kekContext(from: string, to: string): Uint8Array {
    return keyWrapContext({ purpose: `listener-kek ${from}>${to}`, roomId: this.#o.roomId, generation: 0 });
  }
  #keyContext(from: string, to: string, gen: number, step: number): Uint8Array {
    return keyWrapContext({
      purpose: `sframe-base-key ${from}>${to} step ${step}`,
      roomId: this.#o.roomId,
      generation: gen,
    });
  }

  async #sendBody(body: Body, to: string[]): Promise<void> {
    const text = JSON.stringify(body);
    const bytes = new TextEncoder().encode(text);
    const sig = await signEd25519(this.#o.device.signingKey, concat(SIG_LABEL, bytes));
    this.#o.send(new TextEncoder().encode(JSON.stringify({ b: text, s: toB64u(sig) })), to);
  }

  async #receive(payload: Uint8Array, fromHandle: string): Promise<void> {
    if (this.#closed) return;
    let body: Body;
    try {
      const env = JSON.parse(new TextDecoder().decode(payload)) as { b: string; s: string };
      const sender = this.#member(fromHandle);
      if (!sender?.device) return;
      const bytes = new TextEncoder().encode(env.b);
      const vk = await importVerifyKey(fromB64u(sender.device.signingPublicKey));
      if (!(await verifyEd25519(vk, concat(SIG_LABEL, bytes), fromB64u(env.s)))) return;
      body = JSON.parse(env.b) as Body;
    } catch {
      return;
    }
    if (body.from !== fromHandle || body.room !== this.#o.roomId) return;
    const sender = this.#member(fromHandle);
    if (!sender) return;
    const fromHolder = this.#holder()?.handle === fromHandle;
    switch (body.t) {
      case 'want': {
        if (!this.#held || !sender.device) return;
        const dev = { userId: sender.user.id, deviceId: sender.device.id };
        if (this.#stage?.findLeaf(dev) !== undefined && !body.kp) return;
        if (body.kp && sender.role !== 'listener') {
          this.#kps.set(fromHandle, body.kp);
          await this.#reconcile('stage member added');
          if (this.#stage?.findLeaf(dev) !== undefined) return;
        }
        const g = this.#held;
        if (!g) return;
        if (!g.admitted.has(fromHandle)) {
          // a newcomer: move everyone on first, so it cannot read what was said before
          await this.#ratchet();
          g.admitted.add(fromHandle);
        }
        // asking means "I hold no usable key": maybe the message carrying our KEK never reached
        // it (or came before it knew us), and every later key is wrapped under that KEK. So a
        // request always gets a fresh KEK with the key; later rotations use the new one.
        this.#keksOut.delete(fromHandle);
        await this.#sendKey(sender);
        return;
      }
      case 'rekey':
        if (this.#held && sender.role === 'moderator') await this.#reconcile('rekey requested', true);
        return;
      case 'step': {
        if (!fromHolder) return;
        const cur = this.#current;
        if (!cur || body.gen > cur.gen) {
          this.#earlyStep = { gen: body.gen, step: body.step };
          return;
        }
        if (cur.gen !== body.gen || body.step <= cur.step) return;
        cur.step = body.step;
        if (cur.leaf !== null) {
          this.#o.sink.setSendKey({ generation: body.gen, step: body.step, leaf: cur.leaf });
        }
        const { gen, step } = body;
        this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(gen, step));
        return;
      }
      case 'welcome': {
        const pending = this.#pendingJoin;
        if (!fromHolder || body.to !== this.#o.handle || !pending || this.#stage?.active) return;
        const t0 = performance.now();
        try {
          this.#stage = await StageMember.join(this.#stageOptions(), fromB64u(body.welcome), pending.pending);
        } catch (err) {
          this.#o.log?.(`e2ee: Welcome refused (${String(err)})`);
          this.#pendingJoin = null; // a fresh KeyPackage next time
          return;
        }
        this.#pendingJoin = null;
        const ms = performance.now() - t0;
        this.mlsTimings.push({ what: 'join (Welcome)', ms });
        (await this.#installEpoch(ms))?.fill(0);
        return;
      }
      case 'commit': {
        const st = this.#stage;
        if (!fromHolder || !st?.active || this.#held) return;
        const t0 = performance.now();
        try {
          const ev = await st.processMessage(fromB64u(body.commit));
          if (ev.kind === 'removed') {
            this.#stage = null;
            this.#stopSending();
            return;
          }
        } catch (err) {
          this.#o.log?.(`e2ee: stage commit refused (${String(err)}); rejoining`);
          this.#stage = null;
          this.#stopSending();
          return;
        }
        const ms = performance.now() - t0;
        this.mlsTimings.push({ what: 'process commit', ms });
        (await this.#installEpoch(ms))?.fill(0);
        return;
      }
      case 'key': {
        if (!fromHolder || body.to !== this.#o.handle || this.#held || this.#stage?.active) return;
        if (body.kek) {
          const kek = await openListenerKek(
            this.#o.device.hpke,
            fromB64u(body.kek),
            this.#kekContext(fromHandle, this.#o.handle),
          );
          this.#keksIn.set(fromHandle, kek.key);
        }
        const kek = this.#keksIn.get(fromHandle);
        if (!kek) return;
        const key = await kekUnwrap(
          kek,
          fromB64u(body.wrapped),
          this.#keyContext(fromHandle, this.#o.handle, body.gen, body.step),
        );
        const cur = this.#current;
        if (cur && body.gen < cur.gen) return;
        this.#maxGen = Math.max(this.#maxGen, body.gen);
        this.#o.sink.setBaseKey(body.gen, body.step, key);
        key.fill(0);
        const newer = !cur || body.gen > cur.gen;
        this.#current = { gen: body.gen, step: Math.max(body.step, newer ? 0 : cur.step), leaf: null };
        const roster = new Map(body.roster.map(([leaf, k]) => [leaf, fromB64u(k)] as const));
        this.#rosters.set(body.gen, roster);
        for (const g of this.#rosters.keys()) if (g < body.gen - 2) this.#rosters.delete(g);
        this.firstKeyAt ??= performance.now();
        if (newer) {
          const gen = body.gen;
          this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(gen));
          this.#o.onEpoch?.({ generation: gen, securityCode: null, roster, mlsMs: null });
        }
        return;
      }
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
