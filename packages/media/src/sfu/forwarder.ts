/**
 * The packet path, in one place:  in (UpTrack.receive) → fan-out (the loop) → out (DownTrack.write).
 *
 * Payloads are forwarded byte for byte — end-to-end encrypted frames ride inside them and the
 * node never looks past the RTP header. Each subscriber gets its own SSRC, sequence numbers and
 * timestamps, continuous across changes of the publisher's source (a republish or a
 * reconnect). One Buffer is rewritten in place per subscriber: the native send copies it
 * synchronously, so no packet is allocated per listener.
 */
import { audioLevel, isRtp } from './rtp.ts';

/** Where forwarded RTP goes: a node-datachannel Track (SRTP-protects and sends). */
export interface RtpSink {
  sendMessageBinary(buf: Buffer): boolean;
  isOpen(): boolean;
}

const OPUS_CLOCK_PER_MS = 48;

export class DownTrack {
  packets = 0;
  bytes = 0;
  private srcSsrc = -1;
  private seqOffset = 0;
  private tsOffset = 0;
  private lastSeq: number;
  private lastTs: number;
  private lastAt = 0;

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
  write(buf: Buffer, srcSsrc: number, srcSeq: number, srcTs: number, now: number): void {
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
      }
    } catch {
      // the transport closed under us; its owner removes this DownTrack on close
    }
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
    // Fan-out → out.
    const downs = this.downs;
    for (let i = 0; i < downs.length; i++) downs[i].write(buf, ssrc, seq, ts, now);
  }
}
