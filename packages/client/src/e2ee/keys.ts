/**
 * Room key management (main thread). Who may decrypt is decided by the app server's RoomState
 * (SSE), which maps each media handle to the device keys the member joined with; the media node
 * only relays ciphertext data packets (topic `sotto.e2ee`).
 *
 * One member holds the room key: the first stage member (moderators first, in stage order) whose
 * join carries a device. When it leaves, the next one takes over with a new generation. It
 *  - creates a generation (random 16-byte SFrame base key), numbered above any seen before;
 *  - gives each member a per-member KEK once (HPKE to the member's device X25519 key,
 *    `createListenerKek`) and every key under that KEK (`kekWrap`, 60 bytes);
 *  - admits a newcomer (who asks with `want` once connected) only after ratcheting the
 *    generation one step forward (RFC 9605 §5.1) and telling everyone to move on (`step`), so
 *    the newcomer cannot derive the key of anything said before it joined;
 *  - assigns each stage member its own KID leaf (unique within a generation: no shared nonces);
 *  - starts a new generation when a member leaves (batched, `leaveBatchMs`), at once on a
 *    moderator's `rekey` (after a removal), and every `refreshMs` (5 minutes);
 *  - older keys are deleted `graceMs` after they were replaced.
 * Every message is signed with the sender's device Ed25519 key and checked against the device
 * keys the app server lists for the sender's handle; key messages are only taken from stage
 * members. The app server could still swap device keys (it is the directory): safety numbers and
 * TOFU (not wired to the UI yet) are what detect that.
 */
import type { Member, RoomState } from '@sotto/app/api';
import {
  createListenerKek,
  importVerifyKey,
  kekUnwrap,
  kekWrap,
  keyWrapContext,
  openListenerKek,
  ratchetBaseKey,
  signEd25519,
  verifyEd25519,
  type WrapKeyPair,
} from '@sotto/e2ee';
import { fromB64u, toB64u } from './b64.ts';

export const E2EE_TOPIC = 'sotto.e2ee';
const SIG_LABEL = new TextEncoder().encode('sotto/e2ee/v1/key-message\0');

/** What the key manager drives: the frame worker (or a FrameCrypto directly, in tests). */
export interface FrameKeySink {
  setBaseKey(generation: number, step: number, key: Uint8Array): void;
  setSendKey(key: { generation: number; step: number; leaf: number }): void;
  forgetBefore(generation: number, step?: number): void;
}

export interface LocalDevice {
  deviceId: string;
  signingKey: CryptoKey;
  signingPublicKey: Uint8Array;
  /** X25519 private key (or pair) for opening key wraps. */
  hpke: CryptoKey | WrapKeyPair;
}

export interface KeyManagerOptions {
  roomId: string;
  handle: string;
  device: LocalDevice;
  sink: FrameKeySink;
  /** Sends a data packet (reliable, topic E2EE_TOPIC) to these handles. */
  send(payload: Uint8Array, to: string[]): void;
  leaveBatchMs?: number;
  refreshMs?: number;
  graceMs?: number;
  wantRetryMs?: number;
  log?: (msg: string) => void;
}

type Body =
  | { t: 'want'; from: string; room: string }
  | { t: 'rekey'; from: string; room: string }
  | { t: 'step'; from: string; room: string; gen: number; step: number }
  | {
      t: 'key';
      from: string;
      to: string;
      room: string;
      gen: number;
      step: number;
      leaf: number | null;
      kek?: string;
      wrapped: string;
    };

interface Generation {
  gen: number;
  step: number;
  key: Uint8Array;
  admitted: Set<string>;
  leaves: Map<string, number>;
  nextLeaf: number;
}

export class KeyManager {
  readonly #o: Required<Omit<KeyManagerOptions, 'log'>> & Pick<KeyManagerOptions, 'log'>;
  #state: RoomState | null = null;
  #known = new Set<string>();
  /** As key holder. */
  #held: Generation | null = null;
  #maxGen = 0;
  /** As a receiver: the newest generation we have and our leaf in it. */
  #current: { gen: number; step: number; leaf: number | null; from: string } | null = null;
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
    this.#serial(() => this.#onState());
  }

  /** After a moderator removed someone: a new generation now (asks the holder if it is not us). */
  rekeyNow(): void {
    this.#serial(async () => {
      if (this.#held) await this.#newGeneration('removal');
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

  close(): void {
    this.#closed = true;
    for (const t of [this.#leaveTimer, this.#refreshTimer, ...this.#timers]) if (t) clearTimeout(t);
    if (this.#wantTimer) clearInterval(this.#wantTimer);
    this.#held?.key.fill(0);
    this.#held = null;
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

  /** The first stage member that joined with a device. */
  #holder(): Member | undefined {
    return this.#state?.stage.find((m) => m.device !== null && m.handle !== '');
  }

  #hasSendableKey(): boolean {
    if (this.#held) return true;
    if (!this.#current) return false;
    const me = this.#member(this.#o.handle);
    return me?.role === 'listener' || this.#current.leaf !== null;
  }

  async #onState(): Promise<void> {
    if (this.#closed || !this.#state || !this.#connected) return;
    const holder = this.#holder();
    const iAmHolder = holder?.handle === this.#o.handle;
    const present = new Set(
      this.#members()
        .filter((m) => m.device)
        .map((m) => m.handle),
    );
    if (iAmHolder && !this.#held) {
      await this.#newGeneration('became key holder');
    } else if (!iAmHolder && this.#held) {
      // stepped down: stop handing out keys (the new holder starts a generation)
      this.#held.key.fill(0);
      this.#held = null;
      if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    } else if (this.#held) {
      const gone = [...this.#held.admitted].filter((h) => !present.has(h));
      if (gone.length && !this.#leaveTimer) {
        this.#leaveTimer = setTimeout(() => {
          this.#leaveTimer = null;
          this.#serial(() => this.#newGeneration('members left'));
        }, this.#o.leaveBatchMs);
      }
      // stage members that joined the stage mid-generation get a leaf
      for (const m of this.#state.stage) {
        if (
          m.handle !== this.#o.handle &&
          m.device &&
          this.#held.admitted.has(m.handle) &&
          !this.#held.leaves.has(m.handle)
        ) {
          await this.#sendKey(m);
        }
      }
    } else if (!this.#hasSendableKey()) {
      this.#want();
    }
    for (const h of this.#known) if (!present.has(h)) this.#keksOut.delete(h);
    this.#known = present;
  }

  #want(): void {
    if (this.#held || !this.#connected) return;
    const holder = this.#holder();
    if (holder && holder.handle !== this.#o.handle) {
      this.#serial(() =>
        this.#sendBody({ t: 'want', from: this.#o.handle, room: this.#o.roomId }, [holder.handle]),
      );
    }
  }

  async #newGeneration(why: string): Promise<void> {
    if (this.#closed || !this.#state) return;
    if (this.#leaveTimer) clearTimeout(this.#leaveTimer);
    this.#leaveTimer = null;
    const gen = Math.max(this.#maxGen, this.#current?.gen ?? 0, this.#held?.gen ?? 0) + 1;
    this.#maxGen = gen;
    const key = globalThis.crypto.getRandomValues(new Uint8Array(16));
    this.#held?.key.fill(0);
    const g: Generation = {
      gen,
      step: 0,
      key,
      admitted: new Set(),
      leaves: new Map([[this.#o.handle, 0]]),
      nextLeaf: 1,
    };
    this.#held = g;
    this.#o.log?.(`e2ee: generation ${gen} (${why})`);
    this.#o.sink.setBaseKey(gen, 0, key);
    this.#o.sink.setSendKey({ generation: gen, step: 0, leaf: 0 });
    this.firstKeyAt ??= performance.now();
    for (const m of this.#members()) {
      if (m.handle === this.#o.handle || !m.device || !m.handle) continue;
      g.admitted.add(m.handle);
      await this.#sendKey(m);
    }
    this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(gen));
    if (this.#refreshTimer) clearTimeout(this.#refreshTimer);
    this.#refreshTimer = setTimeout(
      () => this.#serial(() => this.#newGeneration('refresh')),
      this.#o.refreshMs,
    );
  }

  /** Ratchets the held generation one step and tells everyone to move on. */
  async #ratchet(): Promise<void> {
    const g = this.#held;
    if (!g) return;
    const next = await ratchetBaseKey(g.key);
    g.key.fill(0);
    g.key = next;
    g.step++;
    this.#o.sink.setSendKey({ generation: g.gen, step: g.step, leaf: 0 });
    const step = g.step;
    const to = this.#members()
      .filter((m) => m.handle !== this.#o.handle && g.admitted.has(m.handle))
      .map((m) => m.handle);
    if (to.length)
      await this.#sendBody({ t: 'step', from: this.#o.handle, room: this.#o.roomId, gen: g.gen, step }, to);
    this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(g.gen, step));
  }

  async #sendKey(m: Member): Promise<void> {
    const g = this.#held;
    if (!g || !m.device) return;
    let leaf: number | null = null;
    if (m.role !== 'listener') {
      leaf = g.leaves.get(m.handle) ?? g.nextLeaf++;
      g.leaves.set(m.handle, leaf);
    }
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
        leaf,
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
    switch (body.t) {
      case 'want': {
        const g = this.#held;
        if (!g || !sender.device) return;
        if (!g.admitted.has(fromHandle)) {
          // a newcomer: move everyone on first, so it cannot read what was said before
          await this.#ratchet();
          g.admitted.add(fromHandle);
        }
        await this.#sendKey(sender);
        return;
      }
      case 'rekey':
        if (this.#held && sender.role === 'moderator') await this.#newGeneration('rekey requested');
        return;
      case 'step': {
        if (sender.role === 'listener' || this.#current?.gen !== body.gen || body.step <= this.#current.step)
          return;
        this.#current.step = body.step;
        if (this.#current.leaf !== null) {
          this.#o.sink.setSendKey({ generation: body.gen, step: body.step, leaf: this.#current.leaf });
        }
        const { gen, step } = body;
        this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(gen, step));
        return;
      }
      case 'key': {
        if (sender.role === 'listener' || body.to !== this.#o.handle || this.#held) return;
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
        const leaf = body.leaf ?? (newer ? null : cur.leaf);
        this.#current = {
          gen: body.gen,
          step: Math.max(body.step, newer ? 0 : cur.step),
          leaf,
          from: fromHandle,
        };
        if (leaf !== null) this.#o.sink.setSendKey({ generation: body.gen, step: this.#current.step, leaf });
        this.firstKeyAt ??= performance.now();
        if (newer) {
          const gen = body.gen;
          this.#later(this.#o.graceMs, () => this.#o.sink.forgetBefore(gen));
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
