/** What the fan-out benchmark's processes share: the timed payload, IPC messages, percentiles. */

/** A realistic Opus frame size; the payload carries its send time and a counter, then padding. */
export const PAYLOAD_BYTES = 80;
export const PACKETS_PER_SECOND = 50;
export const ROOM = 'fanout';

/** Wall-clock milliseconds with sub-ms precision, comparable across processes on one machine. */
export const wallNow = (): number => performance.timeOrigin + performance.now();

export function timedPayload(seq: number): Buffer {
  const buf = Buffer.alloc(PAYLOAD_BYTES);
  buf.writeDoubleLE(wallNow(), 0);
  buf.writeUInt32LE(seq, 8);
  return buf;
}

export function readTimedPayload(payload: Buffer): { sentAt: number; seq: number } {
  return { sentAt: payload.readDoubleLE(0), seq: payload.readUInt32LE(8) };
}

/** Main process → listener process. */
export type ToListeners =
  | { type: 'join'; url: string; count: number; concurrency: number; timeoutMs: number }
  | { type: 'measure'; fromSeq: number }
  | { type: 'report'; toSeq: number };

/** Listener process → main process. */
export type FromListeners =
  | { type: 'ready' }
  | { type: 'joined'; joinMs: number[]; silent: number; failures: Record<string, number> }
  | { type: 'measuring' }
  | { type: 'report'; received: number; latencyP50: number; latencyP99: number };

/** The q-quantile (0…1) of the values, nearest rank; NaN when there are none. */
export function quantile(values: ArrayLike<number>, q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
