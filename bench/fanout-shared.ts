/** What the fan-out benchmark's processes share: the timed payload, IPC messages, percentiles. */
import type { BotTransport } from '../packages/media/test/bot/bot.ts';

/** A realistic Opus frame size; the payload carries its send time and a counter, then padding. */
export const PAYLOAD_BYTES = 80;
export const PACKETS_PER_SECOND = 50;
export const ROOM = 'fanout';
/** Where the timed payload keeps its send time (float64 LE) and its counter (uint32 LE). */
export const SENT_AT_OFFSET = 0;
export const SEQ_OFFSET = 8;

const TIME_ORIGIN = performance.timeOrigin;
/** Wall-clock milliseconds with sub-ms precision, comparable across processes on one machine. */
export const wallNow = (): number => TIME_ORIGIN + performance.now();

export function timedPayload(seq: number): Buffer {
  const buf = Buffer.alloc(PAYLOAD_BYTES);
  buf.writeDoubleLE(wallNow(), SENT_AT_OFFSET);
  buf.writeUInt32LE(seq, SEQ_OFFSET);
  return buf;
}

/** Part `index` of `total` split over `parts` as evenly as can be (the first ones take the rest). */
export function share(total: number, parts: number, index: number): number {
  return Math.floor(total / parts) + (index < total % parts ? 1 : 0);
}

/** A latency histogram as it crosses IPC: the non-empty buckets as [index, count] pairs. */
export interface HistogramData {
  bins: [number, number][];
  min: number;
  max: number;
}

/** Fixed 10 µs buckets up to 2 s, then one overflow bucket; min and max are kept exactly. */
export class LatencyHistogram {
  static readonly BUCKETS_PER_MS = 100;
  static readonly OVERFLOW = 2000 * LatencyHistogram.BUCKETS_PER_MS;
  readonly counts = new Uint32Array(LatencyHistogram.OVERFLOW + 1);
  count = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;

  /** On the per-packet path: no allocation. A negative value (clock skew) counts in bucket 0. */
  add(ms: number): void {
    const i = ms * LatencyHistogram.BUCKETS_PER_MS;
    this.counts[i >= LatencyHistogram.OVERFLOW ? LatencyHistogram.OVERFLOW : i > 0 ? i | 0 : 0]++;
    this.count++;
    if (ms < this.min) this.min = ms;
    if (ms > this.max) this.max = ms;
  }

  toData(): HistogramData {
    const bins: [number, number][] = [];
    for (let i = 0; i < this.counts.length; i++) if (this.counts[i] > 0) bins.push([i, this.counts[i]]);
    // ±Infinity would not survive JSON; an empty histogram's min/max mean nothing anyway
    return { bins, min: this.count > 0 ? this.min : 0, max: this.count > 0 ? this.max : 0 };
  }

  merge(data: HistogramData): void {
    if (data.bins.length === 0) return;
    for (const [i, n] of data.bins) {
      this.counts[i] += n;
      this.count += n;
    }
    this.min = Math.min(this.min, data.min);
    this.max = Math.max(this.max, data.max);
  }

  /**
   * The q-quantile (0…1) by nearest rank, as `quantile` below: the middle of the bucket holding
   * that rank (within min…max; the overflow bucket gives max); NaN when empty.
   */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.min(this.count - 1, Math.floor(q * this.count));
    let seen = 0;
    let i = 0;
    for (; i < LatencyHistogram.OVERFLOW; i++) {
      seen += this.counts[i];
      if (seen > rank) break;
    }
    if (i === LatencyHistogram.OVERFLOW) return this.max;
    const mid = (i + 0.5) / LatencyHistogram.BUCKETS_PER_MS;
    return Math.min(this.max, Math.max(this.min, mid));
  }
}

/** Main process → listener process. `proc` tells the processes apart (it names the listeners). */
export type ToListeners =
  | {
      type: 'join';
      url: string;
      proc: number;
      count: number;
      concurrency: number;
      timeoutMs: number;
      /** The listeners' peer connections: node-datachannel or the native client transport. */
      transport: BotTransport;
    }
  | { type: 'measure'; fromSeq: number }
  | { type: 'report'; toSeq: number };

/** Listener process → main process. */
export type FromListeners =
  | { type: 'ready' }
  | { type: 'joined'; joinMs: number[]; silent: number; failures: Record<string, number> }
  | { type: 'measuring' }
  | {
      type: 'report';
      received: number;
      latency: HistogramData;
      /** The process over the measured window: CPU used (µs) and how late its event loop ran (ms). */
      cpuMicros: number;
      loopDelayP99: number;
      loopDelayMax: number;
      rssBytes: number;
    };

/** The q-quantile (0…1) of the values, nearest rank; NaN when there are none. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
