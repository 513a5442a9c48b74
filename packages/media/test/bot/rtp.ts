/** Just enough RTP (RFC 3550) for a bot: build Opus packets, read headers, tell RTCP apart. */
import { randomInt } from 'node:crypto';

export const OPUS_PT = 111;
/** One 20 ms Opus frame at 48 kHz. */
export const SAMPLES_PER_FRAME = 960;
const HEADER = 12;

export interface RtpHeader {
  payloadType: number;
  seq: number;
  timestamp: number;
  ssrc: number;
  payload: Buffer;
}

/** RTP and RTCP share the port (RFC 5761): RTCP packet types 192–223 sit in byte 1. */
export function isRtcp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[1] >= 192 && buf[1] <= 223;
}

export function parseRtp(buf: Buffer): RtpHeader {
  let offset = HEADER + (buf[0] & 0x0f) * 4;
  if (buf[0] & 0x10) offset += 4 + buf.readUInt16BE(offset + 2) * 4;
  return {
    payloadType: buf[1] & 0x7f,
    seq: buf.readUInt16BE(2),
    timestamp: buf.readUInt32BE(4),
    ssrc: buf.readUInt32BE(8),
    payload: buf.subarray(offset),
  };
}

/** One Opus RTP packet with a chosen sequence number (timestamp 960 per number), for tests. */
export function rtpPacket(seq: number, ssrc: number, payload: Uint8Array | string): Buffer {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const buf = Buffer.alloc(HEADER + body.length);
  buf[0] = 0x80;
  buf[1] = OPUS_PT;
  buf.writeUInt16BE(seq & 0xffff, 2);
  buf.writeUInt32BE((seq * SAMPLES_PER_FRAME) >>> 0, 4);
  buf.writeUInt32BE(ssrc >>> 0, 8);
  buf.set(body, HEADER);
  return buf;
}

/** Wraps Opus frames in RTP: increasing sequence numbers, timestamp +960 per frame. */
export class RtpPacketizer {
  private seq = randomInt(0x10000);
  private timestamp = randomInt(2 ** 32 - 1);

  constructor(readonly ssrc: number) {}

  packet(payload: Uint8Array): Buffer {
    const buf = Buffer.allocUnsafe(HEADER + payload.length);
    buf[0] = 0x80; // version 2, no padding, no extension, no CSRC
    buf[1] = OPUS_PT;
    buf.writeUInt16BE(this.seq, 2);
    buf.writeUInt32BE(this.timestamp, 4);
    buf.writeUInt32BE(this.ssrc, 8);
    buf.set(payload, HEADER);
    this.seq = (this.seq + 1) & 0xffff;
    this.timestamp = (this.timestamp + SAMPLES_PER_FRAME) >>> 0;
    return buf;
  }
}
