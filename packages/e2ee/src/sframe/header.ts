/**
 * SFrame header (RFC 9605 §4.3).
 *
 * ```
 *  0 1 2 3 4 5 6 7
 * +-+-+-+-+-+-+-+-+------------+------------+
 * |X|  K  |Y|  C  |   KID...   |   CTR...   |
 * +-+-+-+-+-+-+-+-+------------+------------+
 * ```
 * X=0: K is the KID (0-7). X=1: K+1 is the byte length of the KID that follows.
 * Y=0: C is the CTR (0-7). Y=1: C+1 is the byte length of the CTR that follows (after the KID).
 * Values are unsigned big-endian, at most 8 bytes (so up to 2^64-1, carried as `bigint`).
 *
 * The RFC says extended values MUST use the minimum number of bytes; this decoder enforces
 * that (a value < 8 in extended form, or a leading zero byte, is `bad_header`) so every
 * (KID, CTR) has exactly one header, which keeps the AAD and the replay check canonical.
 */
import { SFrameError } from './errors.ts';

export const MAX_UINT64 = (1n << 64n) - 1n;

export interface SFrameHeader {
  readonly kid: bigint;
  readonly ctr: bigint;
}

export interface DecodedHeader extends SFrameHeader {
  /** Number of bytes the header occupies at the start of the input. */
  readonly length: number;
}

function checkUint64(name: string, value: bigint): void {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_UINT64) {
    throw new SFrameError('invalid_argument', `${name} must be a bigint in [0, 2^64-1]`);
  }
}

/** Bytes needed after the config byte for one field: 0 when the value fits in 3 bits. */
function extendedLength(value: bigint): number {
  if (value < 8n) return 0;
  let n = 0;
  for (let v = value; v > 0n; v >>= 8n) n++;
  return n;
}

function writeBigEndian(out: Uint8Array, offset: number, value: bigint, length: number): void {
  let v = value;
  for (let i = offset + length - 1; i >= offset; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Encoded header length for (kid, ctr), without allocating. */
export function headerLength(kid: bigint, ctr: bigint): number {
  checkUint64('kid', kid);
  checkUint64('ctr', ctr);
  return 1 + extendedLength(kid) + extendedLength(ctr);
}

export function encodeHeader(kid: bigint, ctr: bigint): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(headerLength(kid, ctr));
  writeHeader(out, 0, kid, ctr);
  return out;
}

/** Writes the header into `out` at `offset`; returns the number of bytes written. */
export function writeHeader(out: Uint8Array, offset: number, kid: bigint, ctr: bigint): number {
  checkUint64('kid', kid);
  checkUint64('ctr', ctr);
  const kidLen = extendedLength(kid);
  const ctrLen = extendedLength(ctr);
  if (out.length < offset + 1 + kidLen + ctrLen) {
    throw new SFrameError('invalid_argument', 'output buffer too small for header');
  }
  let config = 0;
  config |= kidLen === 0 ? Number(kid) << 4 : 0x80 | ((kidLen - 1) << 4);
  config |= ctrLen === 0 ? Number(ctr) : 0x08 | (ctrLen - 1);
  out[offset] = config;
  writeBigEndian(out, offset + 1, kid, kidLen);
  writeBigEndian(out, offset + 1 + kidLen, ctr, ctrLen);
  return 1 + kidLen + ctrLen;
}

function readExtended(data: Uint8Array, offset: number, length: number, field: string): bigint {
  if (data[offset] === 0) {
    throw new SFrameError('bad_header', `${field} has a leading zero byte (not minimal)`);
  }
  let value: bigint;
  if (length <= 6) {
    // 48 bits fit in a double exactly: avoid BigInt arithmetic on the hot path.
    let n = 0;
    for (let i = 0; i < length; i++) n = n * 256 + data[offset + i]!;
    value = BigInt(n);
  } else {
    value = 0n;
    for (let i = 0; i < length; i++) value = (value << 8n) | BigInt(data[offset + i]!);
  }
  if (value < 8n) {
    throw new SFrameError('bad_header', `${field} < 8 must be carried in the config byte`);
  }
  return value;
}

/** Parses the header at the start of `data`. Throws `SFrameError` ('truncated' | 'bad_header'). */
export function decodeHeader(data: Uint8Array): DecodedHeader {
  if (data.length < 1) throw new SFrameError('truncated', 'no config byte');
  const config = data[0]!;
  const x = (config & 0x80) !== 0;
  const k = (config >> 4) & 0x07;
  const y = (config & 0x08) !== 0;
  const c = config & 0x07;
  const kidLen = x ? k + 1 : 0;
  const ctrLen = y ? c + 1 : 0;
  const length = 1 + kidLen + ctrLen;
  if (data.length < length) {
    throw new SFrameError('truncated', `header needs ${length} bytes, got ${data.length}`);
  }
  const kid = x ? readExtended(data, 1, kidLen, 'KID') : BigInt(k);
  const ctr = y ? readExtended(data, 1 + kidLen, ctrLen, 'CTR') : BigInt(c);
  return { kid, ctr, length };
}
