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
  /** The UpTrack feeding us (set by UpTrack.add): its history answers our subscriber's NACKs. */
  source: UpTrack | undefined;
  /** Our first sequence number since the current source began (NACKs before it are not ours to map). */
  private epochSeq = -1;

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
      this.epochSeq = (this.lastSeq + 1) & 0xffff;
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
   * Answers a NACK: the packets we sent under these sequence numbers, rebuilt from the source's
   * history (one copy per packet kept for all subscribers, none per subscriber). Returns how many
   * went out; a number from before the current source, or too old for the history, is skipped.
   */
  retransmit(seqs: number[]): number {
    const history = this.source?.history;
    if (!history || this.epochSeq < 0) return 0;
    let sent = 0;
    for (const seq of seqs) {
      // within what we have sent since the source began
      if (((seq - this.epochSeq) & 0xffff) >= 0x8000 || ((this.lastSeq - seq) & 0xffff) >= 0x8000) continue;
      const original = history.get(this.srcSsrc, (seq - this.seqOffset) & 0xffff);
      if (!original) continue;
      const pkt = Buffer.from(original);
      pkt[1] = (pkt[1] & 0x80) | this.payloadType;
      pkt.writeUInt16BE(seq, 2);
      pkt.writeUInt32BE((pkt.readUInt32BE(4) + this.tsOffset) >>> 0, 4);
      pkt.writeUInt32BE(this.ssrc, 8);
      try {
        if (this.sink.sendMessageBinary(pkt)) sent++;
      } catch {
        // closed
      }
    }
    return sent;
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

/**
 * The last packets of a source by sequence number. Slots keep their buffers and are overwritten
 * in place, so a steady stream allocates nothing.
 */
export class PacketHistory {
  private readonly slots: (Buffer | undefined)[];
  private readonly lengths: Int32Array;
  private readonly seqs: Int32Array;
  private readonly ssrcs: Float64Array;

  constructor(readonly size = 128) {
    this.slots = new Array(size);
    this.lengths = new Int32Array(size);
    this.seqs = new Int32Array(size).fill(-1);
    this.ssrcs = new Float64Array(size).fill(-1);
  }

  store(rtp: Buffer, ssrc: number, seq: number): void {
    const i = seq % this.size;
    let slot = this.slots[i];
    if (!slot || slot.length < rtp.length) {
      slot = Buffer.allocUnsafe(Math.max(rtp.length, 256));
      this.slots[i] = slot;
    }
    slot.set(rtp);
    this.lengths[i] = rtp.length;
    this.seqs[i] = seq;
    this.ssrcs[i] = ssrc;
  }

  get(ssrc: number, seq: number): Buffer | undefined {
    const i = seq % this.size;
    if (this.seqs[i] !== seq || this.ssrcs[i] !== ssrc) return undefined;
    return this.slots[i]?.subarray(0, this.lengths[i]);
  }
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
  /** The last packets forwarded, as the publisher sent them: subscribers' NACKs are answered from it. */
  readonly history = new PacketHistory();

  constructor(
    readonly trackSid: string,
    public audioLevelExtId: number | undefined,
  ) {}

  get subscriberCount(): number {
    return this.downs.length;
  }

  add(down: DownTrack): void {
    down.source = this;
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
    if (this.downs.length > 0) this.history.store(buf, ssrc, seq);
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
