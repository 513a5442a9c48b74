/**
 * STUN for an ICE-lite agent (RFC 8445 §2.5): parse Binding requests (RFC 5389), check their
 * short-term MESSAGE-INTEGRITY and build the answers. For the controlling client used by load
 * tests, also build Binding requests and parse their success responses. Pure functions over
 * bytes, no sockets.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

/** The two class bits of the message type, C1C0 (RFC 5389 §6). */
export enum StunClass {
  Request = 0,
  Indication = 1,
  SuccessResponse = 2,
  ErrorResponse = 3,
}

/** Malformed STUN input. */
export class StunError extends Error {
  override name = 'StunError';
}

export const STUN_HEADER_LENGTH = 20;
export const MAGIC_COOKIE = 0x2112a442;
const FINGERPRINT_XOR = 0x5354554e;
const BINDING = 0x001;

// Attribute types used here (RFC 5389 §18.2, RFC 8445 §16.1).
const USERNAME = 0x0006;
const MESSAGE_INTEGRITY = 0x0008;
const ERROR_CODE = 0x0009;
const XOR_MAPPED_ADDRESS = 0x0020;
const PRIORITY = 0x0024;
const USE_CANDIDATE = 0x0025;
const FINGERPRINT = 0x8028;
const ICE_CONTROLLED = 0x8029;
const ICE_CONTROLLING = 0x802a;

/** Message type from method and class: the class bits sit at bit 4 and bit 8 (RFC 5389 §6). */
function messageType(method: number, cls: StunClass): number {
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((cls & 1) << 4) |
    ((cls & 2) << 7)
  );
}

const BINDING_REQUEST = messageType(BINDING, StunClass.Request); // 0x0001
const BINDING_SUCCESS = messageType(BINDING, StunClass.SuccessResponse); // 0x0101
const BINDING_ERROR = messageType(BINDING, StunClass.ErrorResponse); // 0x0111

const pad4 = (n: number): number => (n + 3) & ~3;

/** A Buffer over the same memory (no copy) so the Buffer read helpers can be used. */
function asBuffer(buf: Uint8Array): Buffer {
  return Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
}

const readU16 = (b: Uint8Array, off: number): number => (b[off] << 8) | b[off + 1];
const readU32 = (b: Uint8Array, off: number): number =>
  ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;

// CRC-32 as used by zlib and Ethernet (reflected polynomial 0xEDB88320), one table lookup per byte.
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}

/** CRC-32 of the bytes, as an unsigned 32-bit number. */
export function crc32(data: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/**
 * STUN per the RFC 7983 demultiplexing rule (first byte 0–3) plus the RFC 5389 header checks:
 * magic cookie at offset 4, and a length field that is a multiple of 4 and matches the packet.
 */
export function isStun(buf: Uint8Array): boolean {
  return (
    buf.length >= STUN_HEADER_LENGTH &&
    buf[0] <= 3 &&
    readU32(buf, 4) === MAGIC_COOKIE &&
    (buf[3] & 3) === 0 &&
    STUN_HEADER_LENGTH + readU16(buf, 2) === buf.length
  );
}

/** The message class of a STUN packet, or undefined when `isStun` is false. */
export function stunClass(buf: Uint8Array): StunClass | undefined {
  if (!isStun(buf)) return undefined;
  const type = readU16(buf, 0);
  return ((type >> 4) & 1) | ((type >> 7) & 2);
}

export interface BindingRequest {
  /** 12 bytes; a view into `message`, not a copy. */
  transactionId: Buffer;
  /** "<our ufrag>:<their ufrag>" (RFC 8445 §7.2.2). */
  username: string;
  /** Part of `username` before the first ':'. */
  localUfrag: string;
  /** Part of `username` after the first ':'. */
  remoteUfrag: string;
  /** USE-CANDIDATE present. */
  useCandidate: boolean;
  iceControlling?: bigint;
  iceControlled?: bigint;
  priority?: number;
  /**
   * The whole request (a view, not a copy). Look up the password by `localUfrag`, then call
   * `verifyIntegrity(req.message, password)`. The caller must not reuse the receive buffer before that.
   */
  message: Buffer;
}

/** Throws unless the header is a plausible STUN header whose length field matches the packet. */
function checkHeader(b: Buffer): void {
  if (b.length < STUN_HEADER_LENGTH) throw new StunError(`STUN message too short (${b.length} bytes)`);
  if (b[0] > 3) throw new StunError('not a STUN message (first two bits are not zero)');
  if (readU32(b, 4) !== MAGIC_COOKIE) throw new StunError('bad STUN magic cookie');
  const length = readU16(b, 2);
  if (length % 4 !== 0) throw new StunError(`STUN length ${length} is not a multiple of 4`);
  if (STUN_HEADER_LENGTH + length !== b.length)
    throw new StunError(`STUN length ${length} does not match the ${b.length}-byte packet`);
}

/**
 * Parses a Binding request. Throws StunError for anything malformed: bad header or length, an
 * attribute overrunning the message, a bad FINGERPRINT (when present) or anything after it; and,
 * for Binding requests, a missing or bad USERNAME, a missing MESSAGE-INTEGRITY or wrong-sized
 * ICE attributes. Returns undefined for a well-formed STUN message that is not a Binding request.
 * Attributes after MESSAGE-INTEGRITY (other than FINGERPRINT) are ignored, as RFC 5389 §15.4 says.
 * Does not check MESSAGE-INTEGRITY: see `verifyIntegrity`.
 */
export function parseBindingRequest(buf: Uint8Array): BindingRequest | undefined {
  const b = asBuffer(buf);
  checkHeader(b);
  const isRequest = readU16(b, 0) === BINDING_REQUEST;
  const end = b.length;

  let username: string | undefined;
  let useCandidate = false;
  let priority: number | undefined;
  let iceControlling: bigint | undefined;
  let iceControlled: bigint | undefined;
  let integrity = -1;
  let fingerprint = -1;

  // The header checks make `end - off` a positive multiple of 4, so each attribute header fits.
  for (let off = STUN_HEADER_LENGTH; off < end; ) {
    if (fingerprint !== -1) throw new StunError('attribute after FINGERPRINT');
    const type = readU16(b, off);
    const len = readU16(b, off + 2);
    const value = off + 4;
    if (value + len > end)
      throw new StunError(`attribute 0x${type.toString(16)} (${len} bytes) overruns the message`);
    if (type === FINGERPRINT) {
      if (len !== 4) throw new StunError(`FINGERPRINT of ${len} bytes`);
      fingerprint = off;
    } else if (isRequest && integrity === -1) {
      switch (type) {
        case USERNAME:
          if (len > 512) throw new StunError(`USERNAME of ${len} bytes`);
          username ??= b.toString('utf8', value, value + len);
          break;
        case MESSAGE_INTEGRITY:
          if (len !== 20) throw new StunError(`MESSAGE-INTEGRITY of ${len} bytes`);
          integrity = off;
          break;
        case PRIORITY:
          if (len !== 4) throw new StunError(`PRIORITY of ${len} bytes`);
          priority ??= readU32(b, value);
          break;
        case USE_CANDIDATE:
          if (len !== 0) throw new StunError(`USE-CANDIDATE of ${len} bytes`);
          useCandidate = true;
          break;
        case ICE_CONTROLLING:
          if (len !== 8) throw new StunError(`ICE-CONTROLLING of ${len} bytes`);
          iceControlling ??= b.readBigUInt64BE(value);
          break;
        case ICE_CONTROLLED:
          if (len !== 8) throw new StunError(`ICE-CONTROLLED of ${len} bytes`);
          iceControlled ??= b.readBigUInt64BE(value);
          break;
        // Other attributes (SOFTWARE, GOOG-NETWORK-INFO, ...) are skipped.
      }
    }
    off = value + pad4(len);
  }

  if (fingerprint !== -1) {
    const expected = (crc32(b.subarray(0, fingerprint)) ^ FINGERPRINT_XOR) >>> 0;
    if (readU32(b, fingerprint + 4) !== expected) throw new StunError('bad FINGERPRINT');
  }
  if (!isRequest) return undefined;
  if (username === undefined) throw new StunError('Binding request without USERNAME');
  if (integrity === -1) throw new StunError('Binding request without MESSAGE-INTEGRITY');
  const colon = username.indexOf(':');
  if (colon === -1) throw new StunError('USERNAME has no colon');

  return {
    transactionId: b.subarray(8, STUN_HEADER_LENGTH),
    username,
    localUfrag: username.slice(0, colon),
    remoteUfrag: username.slice(colon + 1),
    useCandidate,
    iceControlling,
    iceControlled,
    priority,
    message: b,
  };
}

/**
 * Offset of the first attribute of this type, or -1. Only looks before MESSAGE-INTEGRITY (unless
 * that is the type asked for); never throws, returning -1 when the framing is broken.
 */
function findAttribute(b: Uint8Array, wanted: number): number {
  for (let off = STUN_HEADER_LENGTH; off + 4 <= b.length; ) {
    const type = readU16(b, off);
    const len = readU16(b, off + 2);
    if (off + 4 + len > b.length) return -1;
    if (type === wanted) return off;
    if (type === MESSAGE_INTEGRITY) return -1;
    off += 4 + pad4(len);
  }
  return -1;
}

// Holds the adjusted length field while hashing; safe to share because hashing is synchronous.
const lengthScratch = Buffer.alloc(2);

/**
 * Checks MESSAGE-INTEGRITY (HMAC-SHA1) with the short-term key, which for ICE is the password as
 * is (its characters need no SASLprep). The hash covers the message up to MESSAGE-INTEGRITY with
 * the length field as if MESSAGE-INTEGRITY were the last attribute (RFC 5389 §15.4). False for
 * anything that is not a STUN message carrying a 20-byte MESSAGE-INTEGRITY; never throws.
 */
export function verifyIntegrity(buf: Uint8Array, password: string): boolean {
  if (!isStun(buf)) return false;
  const mi = findAttribute(buf, MESSAGE_INTEGRITY);
  if (mi === -1 || readU16(buf, mi + 2) !== 20) return false;
  lengthScratch.writeUInt16BE(mi + 24 - STUN_HEADER_LENGTH, 0);
  const digest = createHmac('sha1', password)
    .update(buf.subarray(0, 2))
    .update(lengthScratch)
    .update(buf.subarray(4, mi))
    .digest();
  return timingSafeEqual(digest, buf.subarray(mi + 4, mi + 24));
}

/**
 * The local ufrag (before the first ':') from the USERNAME of a Binding request, checking nothing
 * else: for telling which peer a packet from a new address is for. Undefined when there is none.
 */
export function stunUfrag(buf: Uint8Array): string | undefined {
  if (!isStun(buf) || readU16(buf, 0) !== BINDING_REQUEST) return undefined;
  const at = findAttribute(buf, USERNAME);
  if (at === -1) return undefined;
  const start = at + 4;
  const end = start + readU16(buf, at + 2);
  const b = asBuffer(buf);
  const colon = b.indexOf(0x3a, start);
  if (colon === -1 || colon >= end) return undefined;
  return b.toString('utf8', start, colon);
}

function checkTransactionId(transactionId: Uint8Array): void {
  if (transactionId.length !== 12)
    throw new RangeError(`STUN transaction id must be 12 bytes, not ${transactionId.length}`);
}

/** A header with the length field left at zero; `sign` fills it in. */
function writeHeader(out: Buffer, type: number, transactionId: Uint8Array): void {
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(0, 2);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  out.set(transactionId, 8);
}

/**
 * Appends MESSAGE-INTEGRITY (when a password is given) and FINGERPRINT at `off`, which must leave
 * exactly their room at the end of `out`, and sets the length field for each step.
 */
function sign(out: Buffer, off: number, password: string | undefined): void {
  if (password !== undefined) {
    out.writeUInt16BE(off + 24 - STUN_HEADER_LENGTH, 2);
    const digest = createHmac('sha1', password).update(out.subarray(0, off)).digest();
    out.writeUInt16BE(MESSAGE_INTEGRITY, off);
    out.writeUInt16BE(20, off + 2);
    out.set(digest, off + 4);
    off += 24;
  }
  out.writeUInt16BE(off + 8 - STUN_HEADER_LENGTH, 2);
  const crc = (crc32(out.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0;
  out.writeUInt16BE(FINGERPRINT, off);
  out.writeUInt16BE(4, off + 2);
  out.writeUInt32BE(crc, off + 4);
}

// Address bytes of the last parsed address; safe to share because encoding is synchronous.
const addressScratch = new Uint8Array(16);

/** Parses a dotted IPv4 address into `out` at `at`. The caller has validated it. */
function parseIPv4(s: string, out: Uint8Array, at: number): void {
  const parts = s.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** Parses an IPv6 address (with '::' and an optional dotted tail) into 16 bytes. Validated by the caller. */
function parseIPv6(s: string, out: Uint8Array): void {
  out.fill(0);
  const gap = s.indexOf('::');
  const head = gap === -1 ? s : s.slice(0, gap);
  const tail = gap === -1 ? '' : s.slice(gap + 2);
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  // Write the tail from the end backwards, then the head from the start.
  let at = 16;
  for (let i = tailGroups.length - 1; i >= 0; i--) at = writeGroup(tailGroups[i], out, at - 2, true);
  at = 0;
  for (const g of headGroups) at = writeGroup(g, out, at, false);
}

/** Writes one 16-bit group (or a 4-byte dotted IPv4 tail); returns the next write position. */
function writeGroup(g: string, out: Uint8Array, at: number, backwards: boolean): number {
  if (g.includes('.')) {
    const start = backwards ? at - 2 : at;
    parseIPv4(g, out, start);
    return backwards ? start : start + 4;
  }
  const v = Number.parseInt(g, 16);
  out[at] = v >> 8;
  out[at + 1] = v & 0xff;
  return backwards ? at : at + 2;
}

/** Fills `addressScratch` and returns the family size, 4 or 16. IPv4-mapped IPv6 counts as IPv4. */
function parseAddress(address: string): 4 | 16 {
  const zone = address.indexOf('%');
  const plain = zone === -1 ? address : address.slice(0, zone);
  if (isIPv4(plain)) {
    parseIPv4(plain, addressScratch, 0);
    return 4;
  }
  if (!isIPv6(plain)) throw new RangeError(`not an IP address: ${address}`);
  parseIPv6(plain, addressScratch);
  // ::ffff:a.b.c.d is an IPv4 peer seen through a dual-stack socket.
  let mapped = addressScratch[10] === 0xff && addressScratch[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) mapped = addressScratch[i] === 0;
  if (mapped) {
    addressScratch.copyWithin(0, 12, 16);
    return 4;
  }
  return 16;
}

/**
 * Binding success response with XOR-MAPPED-ADDRESS (the address and port the request came from),
 * MESSAGE-INTEGRITY keyed with our password, and FINGERPRINT.
 */
export function bindingSuccess(
  transactionId: Uint8Array,
  address: string,
  port: number,
  password: string,
): Buffer {
  checkTransactionId(transactionId);
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw new RangeError(`bad port ${port}`);
  const size = parseAddress(address);
  const valueLength = 4 + size;
  const out = Buffer.allocUnsafe(STUN_HEADER_LENGTH + 4 + valueLength + 24 + 8);
  writeHeader(out, BINDING_SUCCESS, transactionId);
  let off = STUN_HEADER_LENGTH;
  out.writeUInt16BE(XOR_MAPPED_ADDRESS, off);
  out.writeUInt16BE(valueLength, off + 2);
  out[off + 4] = 0;
  out[off + 5] = size === 4 ? 0x01 : 0x02;
  out.writeUInt16BE(port ^ (MAGIC_COOKIE >>> 16), off + 6);
  // The address is XORed with the cookie and, for IPv6, the transaction id: header bytes 4–19.
  for (let i = 0; i < size; i++) out[off + 8 + i] = addressScratch[i] ^ out[4 + i];
  off += 4 + valueLength;
  sign(out, off, password);
  return out;
}

/**
 * Binding error response with ERROR-CODE (300–699 and a reason phrase) and FINGERPRINT, plus
 * MESSAGE-INTEGRITY only when a password is given. Leave it out for a 401 caused by bad or missing
 * credentials (RFC 5389 §10.1.2).
 */
export function bindingError(
  transactionId: Uint8Array,
  code: number,
  reason: string,
  password?: string,
): Buffer {
  checkTransactionId(transactionId);
  if (!Number.isInteger(code) || code < 300 || code > 699)
    throw new RangeError(`bad STUN error code ${code}`);
  const reasonLength = Buffer.byteLength(reason, 'utf8');
  if (reasonLength > 763) throw new RangeError('STUN reason phrase too long');
  const valueLength = 4 + reasonLength;
  const integrityLength = password === undefined ? 0 : 24;
  // Zeroed, so the reason's padding is zero; error responses are rare.
  const out = Buffer.alloc(STUN_HEADER_LENGTH + 4 + pad4(valueLength) + integrityLength + 8);
  writeHeader(out, BINDING_ERROR, transactionId);
  const off = STUN_HEADER_LENGTH;
  out.writeUInt16BE(ERROR_CODE, off);
  out.writeUInt16BE(valueLength, off + 2);
  out[off + 6] = Math.floor(code / 100); // bytes 4–5 and the top bits of 6 are reserved (zero)
  out[off + 7] = code % 100;
  out.write(reason, off + 8, 'utf8');
  sign(out, STUN_HEADER_LENGTH + 4 + pad4(valueLength), password);
  return out;
}

export interface BindingRequestOptions {
  /** PRIORITY: what a peer-reflexive candidate learnt from this check would get (RFC 8445 §7.1.1). */
  priority: number;
  /** ICE-CONTROLLING: our tie-breaker, a random 64-bit number. */
  controlling: bigint;
  /** USE-CANDIDATE: nominate the pair (aggressive nomination). */
  useCandidate: boolean;
}

/**
 * A connectivity check from the controlling agent: USERNAME ("<their ufrag>:<our ufrag>"),
 * PRIORITY, ICE-CONTROLLING, USE-CANDIDATE when asked, MESSAGE-INTEGRITY keyed with the remote
 * password, and FINGERPRINT.
 */
export function bindingRequest(
  transactionId: Uint8Array,
  username: string,
  remotePassword: string,
  opts: BindingRequestOptions,
): Buffer {
  checkTransactionId(transactionId);
  const userLength = Buffer.byteLength(username, 'utf8');
  if (userLength === 0 || userLength > 512) throw new RangeError(`STUN USERNAME of ${userLength} bytes`);
  if (!Number.isInteger(opts.priority) || opts.priority < 1 || opts.priority > 0xffffffff)
    throw new RangeError(`bad ICE priority ${opts.priority}`);
  if (opts.controlling < 0n || opts.controlling > 0xffffffffffffffffn)
    throw new RangeError('the ICE tie-breaker must fit in 64 bits');
  const size = STUN_HEADER_LENGTH + 4 + pad4(userLength) + 8 + 12 + (opts.useCandidate ? 4 : 0) + 24 + 8;
  // zeroed, so the USERNAME padding is zero
  const out = Buffer.alloc(size);
  writeHeader(out, BINDING_REQUEST, transactionId);
  let off = STUN_HEADER_LENGTH;
  out.writeUInt16BE(USERNAME, off);
  out.writeUInt16BE(userLength, off + 2);
  out.write(username, off + 4, 'utf8');
  off += 4 + pad4(userLength);
  out.writeUInt16BE(PRIORITY, off);
  out.writeUInt16BE(4, off + 2);
  out.writeUInt32BE(opts.priority, off + 4);
  off += 8;
  out.writeUInt16BE(ICE_CONTROLLING, off);
  out.writeUInt16BE(8, off + 2);
  out.writeBigUInt64BE(opts.controlling, off + 4);
  off += 12;
  if (opts.useCandidate) {
    out.writeUInt16BE(USE_CANDIDATE, off);
    out.writeUInt16BE(0, off + 2);
    off += 4;
  }
  sign(out, off, remotePassword);
  return out;
}

export interface BindingSuccess {
  /** 12 bytes; a view into `message`, not a copy. */
  transactionId: Buffer;
  /** XOR-MAPPED-ADDRESS: where the peer saw the request come from. */
  address: string;
  port: number;
  /** The whole response (a view): check it with `verifyIntegrity(res.message, remotePassword)`. */
  message: Buffer;
}

/**
 * Parses a Binding success response. Throws StunError for anything malformed: bad header or
 * length, another message type, an attribute overrunning the message, a bad FINGERPRINT (when
 * present) or anything after it, and a missing or malformed XOR-MAPPED-ADDRESS. Only attributes
 * before MESSAGE-INTEGRITY count. Does not check MESSAGE-INTEGRITY: see `verifyIntegrity`.
 */
export function parseBindingSuccess(buf: Uint8Array): BindingSuccess {
  const b = asBuffer(buf);
  checkHeader(b);
  if (readU16(b, 0) !== BINDING_SUCCESS) throw new StunError('not a Binding success response');
  const end = b.length;
  let mapped = -1;
  let integrity = false;
  let fingerprint = -1;
  for (let off = STUN_HEADER_LENGTH; off < end; ) {
    if (fingerprint !== -1) throw new StunError('attribute after FINGERPRINT');
    const type = readU16(b, off);
    const len = readU16(b, off + 2);
    if (off + 4 + len > end)
      throw new StunError(`attribute 0x${type.toString(16)} (${len} bytes) overruns the message`);
    if (type === FINGERPRINT) {
      if (len !== 4) throw new StunError(`FINGERPRINT of ${len} bytes`);
      fingerprint = off;
    } else if (type === MESSAGE_INTEGRITY) {
      if (len !== 20) throw new StunError(`MESSAGE-INTEGRITY of ${len} bytes`);
      integrity = true;
    } else if (type === XOR_MAPPED_ADDRESS && !integrity && mapped === -1) {
      mapped = off;
    }
    off += 4 + pad4(len);
  }
  if (fingerprint !== -1) {
    const expected = (crc32(b.subarray(0, fingerprint)) ^ FINGERPRINT_XOR) >>> 0;
    if (readU32(b, fingerprint + 4) !== expected) throw new StunError('bad FINGERPRINT');
  }
  if (mapped === -1) throw new StunError('Binding success without XOR-MAPPED-ADDRESS');
  const len = readU16(b, mapped + 2);
  const v = mapped + 4;
  const family = b[v + 1];
  if (!((family === 0x01 && len === 8) || (family === 0x02 && len === 20)))
    throw new StunError(`XOR-MAPPED-ADDRESS of family ${family} and ${len} bytes`);
  const port = readU16(b, v + 2) ^ (MAGIC_COOKIE >>> 16);
  // the address is XORed with header bytes 4–19 (the cookie, then the transaction id)
  let address: string;
  if (family === 0x01) {
    address = `${b[v + 4] ^ b[4]}.${b[v + 5] ^ b[5]}.${b[v + 6] ^ b[6]}.${b[v + 7] ^ b[7]}`;
  } else {
    const groups: number[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(((b[v + 4 + i] ^ b[4 + i]) << 8) | (b[v + 5 + i] ^ b[5 + i]));
    address = formatIPv6(groups);
  }
  return { transactionId: b.subarray(8, STUN_HEADER_LENGTH), address, port, message: b };
}

/** Eight 16-bit groups as RFC 5952 text: lower case, the longest run of two or more zeros as '::'. */
function formatIPv6(groups: number[]): string {
  let bestAt = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestAt = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hexes = groups.map((g) => g.toString(16));
  if (bestAt === -1) return hexes.join(':');
  return `${hexes.slice(0, bestAt).join(':')}::${hexes.slice(bestAt + bestLength).join(':')}`;
}
