/**
 * Sliding anti-replay window over CTR values (the RFC 3711 §3.3.2 scheme adapted to SFrame,
 * as RFC 9605 §9.4 suggests). Tracks the highest authenticated CTR and a bitmap of the
 * `size` counters at and below it. Counters older than the window are rejected.
 *
 * Use `check` before decrypting (cheap early drop) and `commit` only after authentication, so
 * forged frames cannot move the window.
 */
export const DEFAULT_REPLAY_WINDOW = 128;

export class ReplayWindow {
  readonly size: number;
  private readonly sizeBig: bigint;
  private readonly full: bigint;
  private highest = -1n;
  /** bit i set ⇔ counter (highest - i) was accepted. */
  private mask = 0n;

  constructor(size: number = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isSafeInteger(size) || size < 1 || size > 4096) {
      throw new RangeError('replay window size must be an integer in [1, 4096]');
    }
    this.size = size;
    this.sizeBig = BigInt(size);
    this.full = (1n << this.sizeBig) - 1n;
  }

  /** 'ok' if `ctr` could be fresh; otherwise why it is rejected. */
  check(ctr: bigint): 'ok' | 'duplicate' | 'too_old' {
    if (ctr > this.highest) return 'ok';
    const age = this.highest - ctr;
    if (age >= this.sizeBig) return 'too_old';
    return (this.mask >> age) & 1n ? 'duplicate' : 'ok';
  }

  /** Marks `ctr` as received. Returns the same verdict as `check`; only 'ok' records it. */
  commit(ctr: bigint): 'ok' | 'duplicate' | 'too_old' {
    const verdict = this.check(ctr);
    if (verdict !== 'ok') return verdict;
    if (ctr > this.highest) {
      const shift = this.highest < 0n ? this.sizeBig : ctr - this.highest;
      this.mask = shift >= this.sizeBig ? 1n : ((this.mask << shift) | 1n) & this.full;
      this.highest = ctr;
    } else {
      this.mask |= 1n << (this.highest - ctr);
    }
    return 'ok';
  }

  /** Highest accepted counter, or -1n before the first. */
  get highestAccepted(): bigint {
    return this.highest;
  }
}
