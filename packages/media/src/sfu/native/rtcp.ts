/**
 * The RTCP the native transport speaks itself (RFC 3550, RFC 4585): receiver reports for the
 * sources a publisher sends us, and reading the sender reports and generic NACKs that come back
 * (NACKs are answered by the DownTrack, from its source's history: forwarder.ts).
 */

const OPUS_CLOCK_PER_MS = 48;

/** Reception statistics of one incoming source, as a receiver report block needs them. */
export class ReceiveStats {
  private baseSeq = -1;
  private maxSeq = 0;
  private cycles = 0;
  private received = 0;
  private expectedPrior = 0;
  private receivedPrior = 0;
  private jitter = 0;
  private lastTransit: number | undefined;
  /** Middle 32 bits of the last sender report's NTP time, and when it arrived. */
  private lastSr = 0;
  private lastSrAt = 0;

  constructor(readonly ssrc: number) {}

  /** One authentic RTP packet of this source (sequence number, RTP timestamp, arrival in ms). */
  packet(seq: number, ts: number, arrivalMs: number): void {
    if (this.baseSeq < 0) {
      this.baseSeq = seq;
      this.maxSeq = seq;
    } else {
      const delta = (seq - this.maxSeq) & 0xffff;
      if (delta > 0 && delta < 0x8000) {
        if (seq < this.maxSeq) this.cycles += 0x10000;
        this.maxSeq = seq;
      }
    }
    this.received++;
    const transit = arrivalMs * OPUS_CLOCK_PER_MS - ts;
    if (this.lastTransit !== undefined) {
      let d = transit - this.lastTransit;
      // the RTP clock wraps at 2^32
      if (d > 2 ** 31) d -= 2 ** 32;
      else if (d < -(2 ** 31)) d += 2 ** 32;
      this.jitter += (Math.abs(d) - this.jitter) / 16;
    }
    this.lastTransit = transit;
  }

  senderReport(ntpMiddle: number, arrivalMs: number): void {
    this.lastSr = ntpMiddle >>> 0;
    this.lastSrAt = arrivalMs;
  }

  /** A 24-byte report block (RFC 3550 §6.4.1), advancing the "since last report" counters. */
  writeBlock(out: Buffer, at: number, nowMs: number): void {
    const extMax = this.cycles + this.maxSeq;
    const expected = this.baseSeq < 0 ? 0 : extMax - this.baseSeq + 1;
    const lost = Math.max(0, Math.min(0x7fffff, expected - this.received));
    const expectedInterval = expected - this.expectedPrior;
    const receivedInterval = this.received - this.receivedPrior;
    this.expectedPrior = expected;
    this.receivedPrior = this.received;
    const lostInterval = expectedInterval - receivedInterval;
    const fraction =
      expectedInterval <= 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval << 8) / expectedInterval);
    out.writeUInt32BE(this.ssrc >>> 0, at);
    out.writeUInt32BE(((Math.min(fraction, 255) << 24) | lost) >>> 0, at + 4);
    out.writeUInt32BE(extMax >>> 0, at + 8);
    out.writeUInt32BE(Math.floor(this.jitter) >>> 0, at + 12);
    out.writeUInt32BE(this.lastSr, at + 16);
    const dlsr = this.lastSrAt === 0 ? 0 : Math.floor(((nowMs - this.lastSrAt) / 1000) * 65536);
    out.writeUInt32BE(dlsr >>> 0, at + 20);
  }
}

/** A receiver report from `senderSsrc` with one block per source (at most 31). */
export function receiverReport(senderSsrc: number, sources: ReceiveStats[], nowMs: number): Buffer {
  const blocks = sources.slice(0, 31);
  const buf = Buffer.alloc(8 + 24 * blocks.length);
  buf[0] = 0x80 | blocks.length;
  buf[1] = 201;
  buf.writeUInt16BE(buf.length / 4 - 1, 2);
  buf.writeUInt32BE(senderSsrc >>> 0, 4);
  blocks.forEach((b, i) => {
    b.writeBlock(buf, 8 + 24 * i, nowMs);
  });
  return buf;
}

export interface RtcpVisitor {
  senderReport?(ssrc: number, ntpMiddle: number): void;
  /** Generic NACK (RFC 4585 §6.2.1): the sequence numbers `mediaSsrc`'s receiver is missing. */
  nack?(mediaSsrc: number, seqs: number[]): void;
}

/** Walks a compound RTCP packet; anything malformed ends the walk (never throws). */
export function readRtcp(buf: Buffer, visit: RtcpVisitor): void {
  let at = 0;
  while (at + 4 <= buf.length) {
    const len = (buf.readUInt16BE(at + 2) + 1) * 4;
    if ((buf[at] & 0xc0) !== 0x80 || at + len > buf.length) return;
    const pt = buf[at + 1];
    const fmt = buf[at] & 0x1f;
    if (pt === 200 && len >= 28) {
      visit.senderReport?.(
        buf.readUInt32BE(at + 4),
        ((buf.readUInt32BE(at + 8) << 16) | (buf.readUInt32BE(at + 12) >>> 16)) >>> 0,
      );
    } else if (pt === 205 && fmt === 1 && len >= 16 && visit.nack) {
      const mediaSsrc = buf.readUInt32BE(at + 8);
      const seqs: number[] = [];
      for (let i = at + 12; i + 4 <= at + len; i += 4) {
        const pid = buf.readUInt16BE(i);
        const blp = buf.readUInt16BE(i + 2);
        seqs.push(pid);
        for (let b = 0; b < 16; b++) if (blp & (1 << b)) seqs.push((pid + b + 1) & 0xffff);
      }
      visit.nack(mediaSsrc, seqs);
    }
    at += len;
  }
}
