/**
 * Speaker authenticity on the receive path (runs in the frame worker; Node-testable). Every
 * listener holds the frame keys, so a frame that SFrame-decrypts may still be a listener's (or a
 * colluding media node's) forgery. Speakers sign their frames once a second (`SpeakerSigner`,
 * in the worker's encrypt path); here `SpeakerVerifier` checks those signatures against the stage
 * roster of each generation (KID leaf → the signing key of that MLS member, which every member
 * checked against the key directory; listeners get the roster in the key holder's signed key
 * message) and the gate decides, per frame, whether it may be played.
 *
 * Signatures arrive up to ~1 s after the frames they cover, so the gate is time-based, per
 * speaker (the roster's signing key, so a new KID does not buy a new grace period):
 *  - frames under a KID whose leaf is not on that generation's roster are muted at once (when the
 *    roster is known; while it is not, the grace applies);
 *  - a speaker is played during `graceMs` after its first frame and while a frame received in
 *    the last `graceMs` has been verified;
 *  - a received frame that is still not covered by a valid signature `graceMs` after it arrived,
 *    or is `forged` (a valid signature covers its counter with another digest, or only bad
 *    signatures claim it), mutes that speaker for the next `graceMs`.
 * So injected or forged audio plays for at most ~`graceMs` (default 2 s), then is muted for as
 * long as it goes on.
 */
import { decodeKid, SpeakerVerifier } from '@sotto/e2ee';

export interface SpeakerGateOptions {
  /** Binds signatures to the room (the same bytes on the signing side). */
  context: Uint8Array;
  graceMs?: number;
  now?: () => number;
}

interface Speaker {
  firstAt: number;
  lastVerifiedAt: number;
  mutedUntil: number;
  /** Received frames not verified yet, oldest first. */
  pending: { kid: bigint; ctr: bigint; at: number }[];
}

const ROSTER_GENERATIONS = 3;
const MAX_PENDING = 500;

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export class SpeakerGate {
  readonly #verifier: SpeakerVerifier;
  readonly #rosters = new Map<number, Map<number, Uint8Array>>();
  readonly #speakers = new Map<string, Speaker>();
  readonly #grace: number;
  readonly #now: () => number;
  readonly stats = { verified: 0, muted: 0, forged: 0, badSignatures: 0 };

  constructor(options: SpeakerGateOptions) {
    this.#grace = options.graceMs ?? 2000;
    this.#now = options.now ?? (() => Date.now());
    this.#verifier = new SpeakerVerifier({
      roster: (kid) => {
        const { generation, leaf } = decodeKid(kid);
        return this.#rosters.get(generation)?.get(leaf);
      },
      context: options.context,
    });
  }

  /** The stage roster of a generation: KID leaf → Ed25519 signing key. */
  setRoster(generation: number, entries: Iterable<readonly [number, Uint8Array]>): void {
    this.#rosters.set(generation, new Map(entries));
    const gens = [...this.#rosters.keys()].sort((a, b) => b - a);
    for (const g of gens.slice(ROSTER_GENERATIONS)) this.#rosters.delete(g);
  }

  /** A speaker's signature message (data packet). */
  async addSignature(message: Uint8Array): Promise<void> {
    const check = await this.#verifier.addSignature(message);
    if (check.status === 'bad_signature') this.stats.badSignatures++;
    if (check.status === 'valid' || check.status === 'bad_signature') {
      const who = this.#speakerKey(check.kid);
      const s = who && this.#speakers.get(who);
      if (s) await this.#settle(s, true);
    }
  }

  /** Call with each frame that SFrame-decrypted (the SFrame bytes); false: mute it. */
  async admit(frame: Uint8Array): Promise<boolean> {
    const { kid, ctr } = await this.#verifier.addFrame(frame);
    const now = this.#now();
    const { generation } = decodeKid(kid);
    const who = this.#speakerKey(kid);
    if (who === undefined) {
      // roster known and the leaf is not on it: nobody on stage sends under this KID
      if (this.#rosters.has(generation)) return this.#mute();
      return true; // the roster has not arrived yet (within the grace of the key message)
    }
    let s = this.#speakers.get(who);
    if (!s) {
      s = { firstAt: now, lastVerifiedAt: 0, mutedUntil: 0, pending: [] };
      this.#speakers.set(who, s);
    }
    s.pending.push({ kid, ctr, at: now });
    if (s.pending.length > MAX_PENDING) s.pending.shift();
    await this.#settle(s, false);
    if (now < s.mutedUntil) return this.#mute();
    if (now - s.firstAt < this.#grace || now - s.lastVerifiedAt < this.#grace) return true;
    return this.#mute();
  }

  #mute(): false {
    this.stats.muted++;
    return false;
  }

  #speakerKey(kid: bigint): string | undefined {
    const { generation, leaf } = decodeKid(kid);
    const key = this.#rosters.get(generation)?.get(leaf);
    return key ? hex(key) : undefined;
  }

  /**
   * Resolves pending frames: verified ones advance the speaker, stale or forged ones mute it.
   * `all` after a signature; otherwise (per frame) only those whose grace is over.
   */
  async #settle(s: Speaker, all: boolean): Promise<void> {
    const now = this.#now();
    const keep: Speaker['pending'] = [];
    for (const p of s.pending) {
      if (!all && now - p.at < this.#grace) {
        keep.push(p);
        continue;
      }
      const v = await this.#verifier.verdict(p.kid, p.ctr);
      if (v === 'verified') {
        this.stats.verified++;
        s.lastVerifiedAt = Math.max(s.lastVerifiedAt, p.at);
      } else if (v === 'forged' || now - p.at >= this.#grace) {
        if (v === 'forged') this.stats.forged++;
        s.mutedUntil = now + this.#grace;
      } else keep.push(p);
    }
    s.pending = keep;
  }
}
