/** RTP header access (RFC 3550) and the RFC 6464 audio level in RFC 8285 extensions. */

export const RTP_HEADER_MIN = 12;

/** RTP and RTCP share the port (RFC 5761): RTCP packet types 192–223 sit in byte 1. */
export function isRtcp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[1] >= 192 && buf[1] <= 223;
}

/** A plausible RTP packet: version 2 and long enough for its fixed header and CSRCs. */
export function isRtp(buf: Uint8Array): boolean {
  if (buf.length < RTP_HEADER_MIN || buf[0] >> 6 !== 2 || isRtcp(buf)) return false;
  return buf.length >= RTP_HEADER_MIN + (buf[0] & 0x0f) * 4;
}

export const rtpSeq = (b: Buffer): number => b.readUInt16BE(2);
export const rtpTimestamp = (b: Buffer): number => b.readUInt32BE(4);
export const rtpSsrc = (b: Buffer): number => b.readUInt32BE(8);

/** Offset of the payload, or -1 when the header (with extension) overruns the packet. */
export function payloadOffset(b: Uint8Array): number {
  let off = RTP_HEADER_MIN + (b[0] & 0x0f) * 4;
  if (b[0] & 0x10) {
    if (b.length < off + 4) return -1;
    const words = (b[off + 2] << 8) | b[off + 3];
    off += 4 + words * 4;
  }
  return off <= b.length ? off : -1;
}

/**
 * The RFC 6464 level (0 = loudest … 127 = silence, in -dBov) from a one-byte (0xBEDE) or
 * two-byte (0x100x) header extension with the given id; undefined when absent.
 */
export function audioLevel(b: Uint8Array, extId: number): number | undefined {
  if (!(b[0] & 0x10)) return undefined;
  const start = RTP_HEADER_MIN + (b[0] & 0x0f) * 4;
  if (b.length < start + 4) return undefined;
  const profile = (b[start] << 8) | b[start + 1];
  const end = start + 4 + ((b[start + 2] << 8) | b[start + 3]) * 4;
  if (end > b.length) return undefined;
  let i = start + 4;
  if (profile === 0xbede) {
    while (i < end) {
      const id = b[i] >> 4;
      if (id === 0) {
        i++; // padding
        continue;
      }
      if (id === 15) return undefined;
      const len = (b[i] & 0x0f) + 1;
      if (id === extId) return i + 1 < end ? b[i + 1] & 0x7f : undefined;
      i += 1 + len;
    }
  } else if ((profile & 0xfff0) === 0x1000) {
    while (i + 1 < end) {
      const id = b[i];
      if (id === 0) {
        i++;
        continue;
      }
      const len = b[i + 1];
      if (id === extId) return len > 0 && i + 2 < end ? b[i + 2] & 0x7f : undefined;
      i += 2 + len;
    }
  }
  return undefined;
}
