/**
 * The packet path, in one place:  in (UpTrack.receive) → fan-out (the loop) → out (DownTrack.write).
 *
 * Payloads are forwarded byte for byte — end-to-end encrypted frames ride inside them and the
 * node never looks past the RTP header. Each subscriber gets its own SSRC, sequence numbers and
 * timestamps, continuous across changes of the publisher's source (a republish or a
 * reconnect). One Buffer is rewritten in place per subscriber: the native send copies it
 * synchronously, so no packet is allocated per listener.
 */
import { audioLevel, isRtp, payloadOffset } from './rtp.ts';

/** Where forwarded RTP goes: a node-datachannel Track (SRTP-protects and sends). */
export interface RtpSink {
  sendMessageBinary(buf: Buffer): boolean;
}

const OPUS_CLOCK_PER_MS = 48;

export class DownTrack {
  packets = 0;
  bytes = 0;
  payloadBytes = 0;
  private srcSsrc = -1;
  private seqOffset = 0;
  private tsOffset = 0;
  private lastSeq: number;
  private lastTs: number;
  private lastAt = 0;
  /** When our next sender report is due (0: not scheduled yet). */
  private nextReportAt = 0;

  constructor(
    readonly ssrc: number,
    readonly payloadType: number,
    readonly sink: RtpSink,
  ) {
    // random starting points (RFC 3550 §5.1) so a listener learns nothing from them
    this.lastSeq = (ssrc >>> 8) & 0xffff;
    this.lastTs = Math.imul(ssrc, 2654435761) >>> 0;
  }

  /** Rewrites the header of `buf` for this subscriber and sends it. */
  write(
    buf: Buffer,
    srcSsrc: number,
    srcSeq: number,
    srcTs: number,
    now: number,
    payloadLen = buf.length - payloadOffset(buf),
  ): void {
    if (srcSsrc !== this.srcSsrc) {
      // new source: continue our sequence at +1 and our clock by the wall time that passed
      const gapTs = this.lastAt === 0 ? 0 : Math.max(1, Math.round((now - this.lastAt) * OPUS_CLOCK_PER_MS));
      this.seqOffset = (this.lastSeq + 1 - srcSeq) & 0xffff;
      this.tsOffset = (this.lastTs + gapTs - srcTs) >>> 0;
      this.srcSsrc = srcSsrc;
    }
    const seq = (srcSeq + this.seqOffset) & 0xffff;
    const ts = (srcTs + this.tsOffset) >>> 0;
    // only advance "last" for packets that are newer (reordering keeps its shape)
    if (((seq - this.lastSeq) & 0xffff) < 0x8000) {
      this.lastSeq = seq;
      this.lastTs = ts;
      this.lastAt = now;
    }
    buf[1] = (buf[1] & 0x80) | this.payloadType;
    buf.writeUInt16BE(seq, 2);
    buf.writeUInt32BE(ts, 4);
    buf.writeUInt32BE(this.ssrc, 8);
    try {
      if (this.sink.sendMessageBinary(buf)) {
        this.packets++;
        this.bytes += buf.length;
        this.payloadBytes += payloadLen;
      }
    } catch {
      // the transport closed under us; its owner removes this DownTrack on close
    }
  }

  /**
   * Sends a sender report when one is due: the first about a second after we start forwarding (so
   * the receiver soon maps our clock to wall time), then every 5 s on average, each interval drawn
   * from 0.5–1.5 × 5 s (RFC 3550 §6.3.1; libwebrtc's audio interval). The room calls this on every
   * tick for every subscriber; the random phase spreads a big room's reports — and the receiver
   * reports they provoke — over the interval instead of one burst that holds up the packets
   * behind it and wakes the node's socket thread once per reply.
   */
  reportIfDue(now: number, wallMs: number): void {
    if (this.packets === 0 || now < this.nextReportAt) return;
    const first = this.nextReportAt === 0;
    this.nextReportAt = now + (first ? FIRST_SR_MS : SR_INTERVAL_MS) * (0.5 + Math.random());
    if (!first) this.sendReport(now, wallMs);
  }

  /**
   * Our RTCP sender report (RFC 3550 §6.4.1) with an SDES CNAME, sent by the room's clock
   * (`reportIfDue`) rather than by a native handler inspecting every packet. Nothing while we have
   * not sent in the last few seconds (a muted or silent source).
   */
  sendReport(now: number, wallMs: number): void {
    if (this.packets === 0 || now - this.lastAt > SR_QUIET_MS) return;
    const report = senderReport(
      this.ssrc,
      wallMs,
      this.lastTs + Math.round((now - this.lastAt) * OPUS_CLOCK_PER_MS),
      this.packets,
      this.payloadBytes,
    );
    try {
      this.sink.sendMessageBinary(report);
    } catch {
      // closed: nothing to report to
    }
  }
}

const SR_QUIET_MS = 5000;
const FIRST_SR_MS = 1000;
const SR_INTERVAL_MS = 5000;
const NTP_EPOCH_OFFSET_S = 2_208_988_800; // 1900 → 1970
const CNAME = Buffer.from('sotto');

/** SR (28 bytes) + SDES with one CNAME chunk, as one compound RTCP packet. */
export function senderReport(
  ssrc: number,
  wallMs: number,
  rtpTs: number,
  packets: number,
  octets: number,
): Buffer {
  const sdesLen = 4 + 4 + 2 + CNAME.length; // header, SSRC, item type+length, text
  const sdesPadded = (sdesLen + 1 + 3) & ~3; // at least one null octet ends the item list
  const buf = Buffer.alloc(28 + sdesPadded);
  buf[0] = 0x80; // V=2, no padding, no report blocks
  buf[1] = 200; // SR
  buf.writeUInt16BE(6, 2); // 28 bytes / 4 - 1
  buf.writeUInt32BE(ssrc >>> 0, 4);
  const seconds = Math.floor(wallMs / 1000);
  buf.writeUInt32BE((seconds + NTP_EPOCH_OFFSET_S) >>> 0, 8);
  buf.writeUInt32BE(Math.floor(((wallMs - seconds * 1000) / 1000) * 2 ** 32) >>> 0, 12);
  buf.writeUInt32BE(rtpTs >>> 0, 16);
  buf.writeUInt32BE(packets >>> 0, 20);
  buf.writeUInt32BE(octets >>> 0, 24);
  buf[28] = 0x81; // V=2, one chunk
  buf[29] = 202; // SDES
  buf.writeUInt16BE(sdesPadded / 4 - 1, 30);
  buf.writeUInt32BE(ssrc >>> 0, 32);
  buf[36] = 1; // CNAME
  buf[37] = CNAME.length;
  CNAME.copy(buf, 38);
  return buf;
}

/** Windowed voice activity from RFC 6464 levels, read by the room's speaker detector. */
export class LevelMeter {
  private sum = 0;
  private count = 0;
  add(dbov: number): void {
    this.sum += 10 ** (-dbov / 20);
    this.count++;
  }
  /** Mean linear amplitude (0…1) since the last call. */
  take(): number {
    const v = this.count === 0 ? 0 : this.sum / this.count;
    this.sum = 0;
    this.count = 0;
    return v;
  }
}

export class UpTrack {
  /** Server-side mute (MutePublishedTrack, or canPublish revoked): nothing is forwarded. */
  paused = false;
  packets = 0;
  readonly level = new LevelMeter();
  /** Test instrumentation only (the E2EE canary): sees each payload before the fan-out. */
  tap?: (payload: Buffer) => void;
  /**
   * Test instrumentation only (E2EE tests: a tampering media node): returns the payloads to
   * forward instead of this one (each under the original RTP header; [] drops it), or undefined
   * to forward it unchanged. Never set in production.
   */
  tamper?: (payload: Buffer) => Buffer[] | undefined;
  private downs: DownTrack[] = [];

  constructor(
    readonly trackSid: string,
    public audioLevelExtId: number | undefined,
  ) {}

  get subscriberCount(): number {
    return this.downs.length;
  }

  add(down: DownTrack): void {
    this.downs = [...this.downs, down];
  }

  remove(down: DownTrack): void {
    this.downs = this.downs.filter((d) => d !== down);
  }

  /** In: one RTP packet from the publisher (SRTP already removed). */
  receive(buf: Buffer): void {
    if (!isRtp(buf)) return; // RTCP and garbage are not forwarded
    this.packets++;
    if (this.audioLevelExtId !== undefined) {
      const lvl = audioLevel(buf, this.audioLevelExtId);
      if (lvl !== undefined) this.level.add(lvl);
    }
    if (this.paused) return;
    const ssrc = buf.readUInt32BE(8);
    const seq = buf.readUInt16BE(2);
    const ts = buf.readUInt32BE(4);
    const now = performance.now();
    const offset = payloadOffset(buf);
    if (offset < 0) return; // header extension overruns the packet
    const payloadLen = buf.length - offset; // the same for every subscriber
    this.tap?.(buf.subarray(offset));
    if (this.tamper) {
      this.fanOutTampered(buf, offset, ssrc, seq, ts, now);
      return;
    }
    // Fan-out → out.
    const downs = this.downs;
    for (let i = 0; i < downs.length; i++) downs[i].write(buf, ssrc, seq, ts, now, payloadLen);
  }

  private fanOutTampered(
    buf: Buffer,
    offset: number,
    ssrc: number,
    seq: number,
    ts: number,
    now: number,
  ): void {
    const replaced = this.tamper?.(buf.subarray(offset));
    for (const payload of replaced ?? [buf.subarray(offset)]) {
      const pkt = Buffer.concat([buf.subarray(0, offset), payload]);
      for (const d of this.downs) d.write(pkt, ssrc, seq, ts, now, payload.length);
    }
  }
}
