/**
 * The per-frame half of Sotto's E2EE, independent of WebRTC so it runs (and is tested) in Node:
 * SFrame (RFC 9605) over whole Opus frames with `SFrameContext`, keys by generation and ratchet
 * step (`@sotto/e2ee` KID layout: generation ‖ step ‖ sender leaf).
 *
 * The key manager gives it, per generation, a base key at some ratchet step (the "anchor"): it
 * derives later steps on demand (a frame whose KID names a later step, or a sender told to move
 * on) and can never derive earlier ones. The sender's KID is (generation, step, its leaf). Every
 * failure on the receive path drops the frame (`decrypt` returns null): unknown key, replay,
 * authentication failure, empty or malformed frames — the decoder then conceals, never plays
 * noise. Nothing is ever sent in clear: without a send key `encrypt` returns null too.
 */
import {
  DEFAULT_CIPHER_SUITE,
  decodeHeader,
  decodeKid,
  decryptFrame,
  deriveSFrameKey,
  encodeKid,
  encryptFrame,
  getCipherSuite,
  isSFrameError,
  ratchetForward,
  SFrameContext,
  SFrameError,
  type SFrameErrorCode,
  unwrapRatchetStep,
} from '@sotto/e2ee';

export interface SendKey {
  generation: number;
  step: number;
  leaf: number;
}

export interface FrameCryptoStats {
  encrypted: number;
  decrypted: number;
  /** Frames the sender dropped because it had no key yet. */
  unsent: number;
  /** Why frames were not played: SFrame errors, a ratchet step already forgotten, or `unsigned`
   * (decrypted, but not signed by a current stage member: muted by the speaker gate). */
  dropped: Partial<Record<SFrameErrorCode | 'stale_step' | 'unsigned', number>>;
}

interface Anchor {
  step: number;
  key: Uint8Array;
  /** Highest step seen or announced, the reference for unwrapping 8-bit steps. */
  latest: number;
}

export interface FrameCryptoOptions {
  /**
   * Another use of the same keys (e.g. `sotto level v1` for the encrypted speaking levels of
   * hardened rooms): each step's base key is first expanded with HKDF-SHA256 under this label,
   * so the KIDs stay the same but keys and counters never collide with the audio's. Applied
   * after the ratchet, so a member anchored at a later step derives the same keys.
   */
  domain?: string;
}

export class FrameCrypto {
  readonly #ctx = new SFrameContext();
  readonly #domain: Uint8Array | null;
  readonly #anchors = new Map<number, Anchor>();
  /** Derived base keys by `${generation}:${step}`. */
  readonly #derived = new Map<string, Promise<Uint8Array>>();
  #send: (SendKey & { kid: bigint }) | null = null;
  #sendReady: Promise<void> = Promise.resolve();
  #sendSeq = 0;
  readonly stats: FrameCryptoStats = { encrypted: 0, decrypted: 0, unsent: 0, dropped: {} };
  /** Called (at most once a second per generation) when frames arrive for a generation we lack. */
  onMissingKey: ((generation: number) => void) | null = null;
  #lastMissingAt = 0;

  constructor(options: FrameCryptoOptions = {}) {
    this.#domain = options.domain ? new TextEncoder().encode(options.domain) : null;
  }

  /** Installs a generation's base key at `step` (keeps an older anchor for the same generation). */
  setBaseKey(generation: number, step: number, key: Uint8Array): void {
    const a = this.#anchors.get(generation);
    if (a && a.step <= step) {
      a.latest = Math.max(a.latest, step);
      return;
    }
    this.#anchors.set(generation, {
      step,
      key: Uint8Array.from(key),
      latest: Math.max(step, a?.latest ?? 0),
    });
    for (const k of [...this.#derived.keys()]) if (k.startsWith(`${generation}:`)) this.#derived.delete(k);
  }

  /** The generations we hold a base key for, ascending. */
  get generations(): number[] {
    return [...this.#anchors.keys()].sort((a, b) => a - b);
  }

  hasGeneration(generation: number): boolean {
    return this.#anchors.has(generation);
  }

  /** Encrypt from now on under (generation, step, leaf). */
  setSendKey(key: SendKey): Promise<void> {
    const kid = encodeKid({ generation: key.generation, step: key.step, leaf: key.leaf });
    const anchor = this.#anchors.get(key.generation);
    if (anchor) anchor.latest = Math.max(anchor.latest, key.step);
    const seq = ++this.#sendSeq;
    this.#sendReady = (async () => {
      const base = await this.#base(key.generation, key.step);
      if (!base) return;
      if (!this.#ctx.hasEncryptionKey(kid)) await this.#ctx.addEncryptionKey(kid, await this.#inDomain(base));
      if (seq === this.#sendSeq) this.#send = { ...key, kid };
    })();
    return this.#sendReady;
  }

  /** No send key any more: `encrypt` drops every frame until the next `setSendKey`. */
  clearSendKey(): void {
    this.#sendSeq++;
    this.#send = null;
    this.#sendReady = Promise.resolve();
  }

  /** Forgets generations older than `generation`, and steps of it before `step`. */
  forgetBefore(generation: number, step = 0): void {
    for (const g of [...this.#anchors.keys()]) if (g < generation) this.#anchors.delete(g);
    for (const k of [...this.#derived.keys()]) {
      const [g, s] = k.split(':').map(Number) as [number, number];
      if (g < generation || (g === generation && s < step)) this.#derived.delete(k);
    }
    this.#ctx.deleteKeys((kid) => {
      const d = decodeKid(kid);
      if (this.#send && kid === this.#send.kid) return false;
      if (d.generation < generation) return true;
      if (d.generation > generation) return false;
      const a = this.#anchors.get(generation);
      return unwrapRatchetStep(d.stepLow, a?.latest ?? step) < step;
    });
    const a = this.#anchors.get(generation);
    if (a && a.step < step) {
      // move the anchor so earlier steps cannot be derived any more
      const from = a;
      const p = this.#base(generation, step);
      void p.then((key) => {
        if (key && this.#anchors.get(generation) === from) {
          this.#anchors.set(generation, { step, key, latest: Math.max(from.latest, step) });
          from.key.fill(0);
        }
      });
    }
  }

  /** Clears everything (leaving the room). */
  clear(): void {
    this.#ctx.deleteKeys(() => true);
    for (const a of this.#anchors.values()) a.key.fill(0);
    this.#anchors.clear();
    this.#derived.clear();
    this.#send = null;
  }

  async #base(generation: number, step: number): Promise<Uint8Array | null> {
    const a = this.#anchors.get(generation);
    if (!a || step < a.step) return null;
    if (step === a.step) return a.key;
    const id = `${generation}:${step}`;
    let p = this.#derived.get(id);
    if (!p) {
      p = ratchetForward(a.key, step - a.step);
      this.#derived.set(id, p);
    }
    return p;
  }

  /** The step's base key for this instance's use of it (see FrameCryptoOptions.domain). */
  async #inDomain(base: Uint8Array): Promise<Uint8Array> {
    if (!this.#domain) return base;
    const subtle = globalThis.crypto.subtle;
    const ikm = await subtle.importKey('raw', base as BufferSource, 'HKDF', false, ['deriveBits']);
    const info = this.#domain as BufferSource;
    const bits = await subtle.deriveBits(
      { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0), info },
      ikm,
      256,
    );
    return new Uint8Array(bits);
  }

  /** The whole frame, SFrame-encrypted; null when there is no send key (the frame is dropped). */
  async encrypt(frame: Uint8Array): Promise<Uint8Array | null> {
    await this.#sendReady;
    const send = this.#send;
    if (!send || frame.length === 0) {
      this.stats.unsent++;
      return null;
    }
    try {
      const out = await this.#ctx.encrypt(send.kid, frame);
      this.stats.encrypted++;
      return out;
    } catch {
      this.stats.unsent++;
      return null;
    }
  }

  /** The plaintext, or null when the frame must be dropped. */
  async decrypt(frame: Uint8Array): Promise<Uint8Array | null> {
    try {
      return await this.#decrypt(frame);
    } catch (err) {
      const code = isSFrameError(err) ? err.code : 'auth_failed';
      this.stats.dropped[code] = (this.stats.dropped[code] ?? 0) + 1;
      return null;
    }
  }

  async #decrypt(frame: Uint8Array): Promise<Uint8Array | null> {
    if (frame.length === 0) throw new SFrameError('empty');
    const first = await this.#ctx.decrypt(frame).catch(async (err: unknown) => {
      if (!isSFrameError(err) || err.code !== 'unknown_key') throw err;
      return null;
    });
    if (first) {
      this.stats.decrypted++;
      return first.plaintext;
    }
    // unknown KID: derive it from the generation's anchor if we can, then retry once
    const kid = decodeHeader(frame).kid;
    const d = decodeKid(kid);
    const anchor = this.#anchors.get(d.generation);
    if (!anchor) {
      this.#missing(d.generation);
      throw new SFrameError('unknown_key');
    }
    const step = unwrapRatchetStep(d.stepLow, anchor.latest);
    const base = await this.#base(d.generation, step);
    if (!base) {
      this.stats.dropped.stale_step = (this.stats.dropped.stale_step ?? 0) + 1;
      return null;
    }
    if (step > anchor.latest) anchor.latest = step;
    if (!this.#ctx.hasDecryptionKey(kid)) await this.#ctx.addDecryptionKey(kid, await this.#inDomain(base));
    const out = await this.#ctx.decrypt(frame);
    this.stats.decrypted++;
    return out.plaintext;
  }

  /**
   * Test-only (the speaker-authenticity browser test): what a listener holding the keys can do —
   * encrypt `frames` under someone else's KID from counter `firstCtr`. Null without the key.
   */
  async forgeForTest(kid: bigint, firstCtr: bigint, frames: Uint8Array[]): Promise<Uint8Array[] | null> {
    const d = decodeKid(kid);
    const anchor = this.#anchors.get(d.generation);
    if (!anchor) return null;
    const base = await this.#base(d.generation, unwrapRatchetStep(d.stepLow, anchor.latest));
    if (!base) return null;
    const key = await deriveSFrameKey(getCipherSuite(DEFAULT_CIPHER_SUITE), kid, base);
    return Promise.all(frames.map((f, i) => encryptFrame(key, firstCtr + BigInt(i), f)));
  }

  /**
   * Test-only: how many of `frames` the keys held now can open, ignoring replay windows (what an
   * attacker keeping these keys could decrypt from a recording).
   */
  async tryDecryptForTest(frames: Uint8Array[]): Promise<number> {
    let opened = 0;
    for (const frame of frames) {
      try {
        const { kid } = decodeHeader(frame);
        const d = decodeKid(kid);
        const anchor = this.#anchors.get(d.generation);
        if (!anchor) continue;
        const base = await this.#base(d.generation, unwrapRatchetStep(d.stepLow, anchor.latest));
        if (!base) continue;
        await decryptFrame(await deriveSFrameKey(getCipherSuite(DEFAULT_CIPHER_SUITE), kid, base), frame);
        opened++;
      } catch {
        // not openable with these keys
      }
    }
    return opened;
  }

  /**
   * At most one missing-key report a second in all: frames with made-up KIDs (a tampering node,
   * garbage) must not turn every listener into a stream of key requests, each costing the key
   * holder an HPKE seal.
   */
  #missing(generation: number): void {
    const now = Date.now();
    if (this.#lastMissingAt > now - 1000) return;
    this.#lastMissingAt = now;
    this.onMissingKey?.(generation);
  }
}
