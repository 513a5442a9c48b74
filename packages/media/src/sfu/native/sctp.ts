/**
 * SCTP for WebRTC data channels, written from the RFCs: RFC 9260 (SCTP) as profiled for WebRTC by
 * RFC 8261 (SCTP packets are DTLS application data: no IP addresses, one path, port 5000 on both
 * sides) and RFC 8831, with partial reliability (RFC 3758 FORWARD-TSN), stream reset (RFC 6525
 * RE-CONFIG, how data channels close) and the data channel establishment protocol (RFC 8832 DCEP).
 *
 * One SctpEndpoint is one association. Both sides may send INIT (browsers do); collisions resolve
 * to one association by the State Cookie rules of RFC 9260 §5.2. Bad input is counted in `dropped`
 * and never throws out of receive(). Each endpoint keeps at most one (unref'd) timer, armed for the
 * earliest of its deadlines (INIT/COOKIE, T3-rtx, delayed SACK, SHUTDOWN, RE-CONFIG, heartbeat).
 *
 * Not implemented: multi-homing, ECN, I-DATA (RFC 8260, interleaving), the partial delivery API
 * (a message must fit in the receive window), reneging-proof gap-ack handling beyond the reported
 * range, Add Streams / Incoming SSN Reset requests (answered "denied"), ERROR chunks reporting
 * unrecognized chunks or parameters (they are skipped or stop the packet as their type bits say).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DataChannelLike } from '../transport.ts';

// ---- wire ------------------------------------------------------------------------------------

const PORT = 5000;
/** Our largest SCTP packet: fits a 1280-byte IPv6 path with UDP and a DTLS 1.2 AES-GCM record. */
const MTU = 1188;
const HEADER = 12;
const DATA_HEADER = 16;
const MAX_FRAGMENT = MTU - HEADER - DATA_HEADER;

const CT_DATA = 0;
const CT_INIT = 1;
const CT_INIT_ACK = 2;
const CT_SACK = 3;
const CT_HEARTBEAT = 4;
const CT_HEARTBEAT_ACK = 5;
const CT_ABORT = 6;
const CT_SHUTDOWN = 7;
const CT_SHUTDOWN_ACK = 8;
const CT_ERROR = 9;
const CT_COOKIE_ECHO = 10;
const CT_COOKIE_ACK = 11;
const CT_SHUTDOWN_COMPLETE = 14;
const CT_RECONFIG = 0x82;
const CT_FORWARD_TSN = 0xc0;

/** DATA flags (RFC 9260 §3.3.1, RFC 7053 for I). */
const F_END = 0x01;
const F_BEGIN = 0x02;
const F_UNORDERED = 0x04;
const F_IMMEDIATE = 0x08;
/** The T bit of ABORT and SHUTDOWN COMPLETE: the tag is the sender's own. */
const F_T = 0x01;

const P_HEARTBEAT_INFO = 1;
const P_STATE_COOKIE = 7;
const P_SUPPORTED_EXTENSIONS = 0x8008;
const P_FORWARD_TSN_SUPPORTED = 0xc000;
const P_OUTGOING_RESET = 13;
const P_RECONFIG_RESPONSE = 16;

const R_NOTHING_TO_DO = 0;
const R_PERFORMED = 1;
const R_DENIED = 2;
const R_BAD_SEQUENCE = 5;
const R_IN_PROGRESS = 6;

const PPID_DCEP = 50;
const PPID_STRING = 51;
const PPID_BINARY_PARTIAL = 52;
const PPID_BINARY = 53;
const PPID_STRING_PARTIAL = 54;
const PPID_STRING_EMPTY = 56;
const PPID_BINARY_EMPTY = 57;

const DCEP_ACK = 0x02;
const DCEP_OPEN = 0x03;
const DCEP_PRIORITY_NORMAL = 256;

// ---- protocol parameters ---------------------------------------------------------------------

const RWND = 1024 * 1024;
const STREAMS = 65535;
const RTO_INITIAL = 1000;
const RTO_MIN = 200;
const RTO_MAX = 10_000;
const MAX_INIT_RETRANSMITS = 8;
const MAX_ASSOCIATION_RETRANSMITS = 10;
const SACK_DELAY_MS = 200;
const HEARTBEAT_MS = 30_000;
const COOKIE_LIFETIME_MS = 60_000;
const COOKIE_BODY = 44;
const COOKIE_LENGTH = COOKIE_BODY + 16;
const MAX_GAP_BLOCKS = 64;
const MAX_DUPLICATES = 16;
/** DATA further than this past the cumulative TSN is refused (gap offsets are 16 bits). */
const MAX_TSN_AHEAD = 0xfff0;
/** A message of more fragments than this is malformed (bounds the reassembly walks). */
const MAX_FRAGMENTS = 4096;
/** Bytes queued or unacknowledged past which sends are refused. */
const SEND_BUFFER_LIMIT = 8 * 1024 * 1024;
const MAX_RESET_STREAMS = 256;
const MAX_EARLY_MESSAGES = 256;
const INITIAL_CWND = Math.min(4 * MTU, Math.max(2 * MTU, 4380));

// ---- helpers ---------------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

function crcUpdate(crc: number, buf: Uint8Array, start: number, end: number): number {
  let c = crc;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return c;
}

/** CRC32c (Castagnoli), as SCTP uses it (RFC 9260 Appendix A): crc32c('123456789') = 0xe3069283. */
export function crc32c(buf: Uint8Array): number {
  return (crcUpdate(0xffffffff, buf, 0, buf.length) ^ 0xffffffff) >>> 0;
}

const ZERO4 = new Uint8Array(4);

/** The checksum of a packet as if its checksum field were zero. */
function packetChecksum(p: Uint8Array): number {
  let c = crcUpdate(0xffffffff, p, 0, 8);
  c = crcUpdate(c, ZERO4, 0, 4);
  c = crcUpdate(c, p, 12, p.length);
  return (c ^ 0xffffffff) >>> 0;
}

/** Serial number arithmetic (RFC 1982) on 32-bit TSNs and 16-bit SSNs. */
const add32 = (a: number, n: number): number => (a + n) >>> 0;
const lt32 = (a: number, b: number): boolean => a !== b && (b - a) >>> 0 < 0x80000000;
const le32 = (a: number, b: number): boolean => a === b || lt32(a, b);
const lt16 = (a: number, b: number): boolean => a !== b && ((b - a) & 0xffff) < 0x8000;

function randomU32(): number {
  return randomBytes(4).readUInt32BE(0);
}

function randomTag(...avoid: number[]): number {
  for (;;) {
    const t = randomU32();
    if (t !== 0 && !avoid.includes(t)) return t;
  }
}

function makeChunk(type: number, flags: number, value?: Uint8Array): Buffer {
  const len = 4 + (value?.length ?? 0);
  const c = Buffer.alloc(len);
  c[0] = type;
  c[1] = flags;
  c.writeUInt16BE(len, 2);
  if (value) c.set(value, 4);
  return c;
}

/** A parameter, padded to four bytes unless it comes last in its chunk. */
function makeParam(type: number, value: Uint8Array, last = false): Buffer {
  const len = 4 + value.length;
  const p = Buffer.alloc(last ? len : (len + 3) & ~3);
  p.writeUInt16BE(type, 0);
  p.writeUInt16BE(len, 2);
  p.set(value, 4);
  return p;
}

/** What we announce in INIT and INIT ACK: FORWARD-TSN and RE-CONFIG. */
const EXTENSION_PARAMS = Buffer.concat([
  makeParam(P_SUPPORTED_EXTENSIONS, Uint8Array.of(CT_FORWARD_TSN, CT_RECONFIG)),
  makeParam(P_FORWARD_TSN_SUPPORTED, new Uint8Array(0)),
]);

function initValue(tag: number, tsn: number, params: Buffer): Buffer {
  const v = Buffer.alloc(16 + params.length);
  v.writeUInt32BE(tag, 0);
  v.writeUInt32BE(RWND, 4);
  v.writeUInt16BE(STREAMS, 8);
  v.writeUInt16BE(STREAMS, 10);
  v.writeUInt32BE(tsn, 12);
  params.copy(v, 16);
  return v;
}

interface PeerParams {
  tag: number;
  rwnd: number;
  os: number;
  mis: number;
  tsn: number;
  forwardTsn: boolean;
  reconfig: boolean;
}

interface InitInfo extends PeerParams {
  cookie: Buffer | undefined;
}

function parseInit(v: Buffer): InitInfo | undefined {
  if (v.length < 16) return undefined;
  const info: InitInfo = {
    tag: v.readUInt32BE(0),
    rwnd: v.readUInt32BE(4),
    os: v.readUInt16BE(8),
    mis: v.readUInt16BE(10),
    tsn: v.readUInt32BE(12),
    forwardTsn: false,
    reconfig: false,
    cookie: undefined,
  };
  if (info.tag === 0 || info.os === 0 || info.mis === 0) return undefined;
  let off = 16;
  while (off + 4 <= v.length) {
    const type = v.readUInt16BE(off);
    const len = v.readUInt16BE(off + 2);
    if (len < 4 || off + len > v.length) return undefined;
    const body = v.subarray(off + 4, off + len);
    if (type === P_STATE_COOKIE) info.cookie = Buffer.from(body);
    else if (type === P_FORWARD_TSN_SUPPORTED) info.forwardTsn = true;
    else if (type === P_SUPPORTED_EXTENSIONS) {
      for (const t of body) {
        if (t === CT_FORWARD_TSN) info.forwardTsn = true;
        else if (t === CT_RECONFIG) info.reconfig = true;
      }
    }
    // everything else (addresses, ECN, zero checksum, …) is skipped
    off += (len + 3) & ~3;
  }
  return info;
}

interface Cookie extends PeerParams {
  localTag: number;
  localTsn: number;
  localTie: number;
  peerTie: number;
}

/** A double-ended queue on an array: shifts are O(1) amortized. */
class Queue<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  at(i: number): T {
    return this.items[this.head + i] as T;
  }

  push(x: T): void {
    this.items.push(x);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head] = undefined;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

interface OutMessage {
  stream: number;
  ssn: number;
  ppid: number;
  unordered: boolean;
  maxRetransmits: number | undefined;
  lifetime: number | undefined;
  createdAt: number;
  data: Buffer;
  chunks: OutChunk[];
  abandoned: boolean;
}

interface OutChunk {
  msg: OutMessage;
  tsn: number;
  flags: number;
  data: Buffer;
  /** Transmissions so far (0: has a TSN, not sent yet). */
  sent: number;
  sentAt: number;
  /** Reported in a gap ack block. */
  acked: boolean;
  /** Counted in flightBytes. */
  inFlight: boolean;
  /** Marked for retransmission. */
  rtx: boolean;
  missing: number;
  fastRetransmitted: boolean;
}

interface Fragment {
  tsn: number;
  stream: number;
  ssn: number;
  ppid: number;
  flags: number;
  data: Buffer;
}

interface InMessage {
  stream: number;
  ssn: number;
  ppid: number;
  unordered: boolean;
  data: Buffer;
}

interface InStream {
  nextSsn: number;
  queue: Map<number, InMessage>;
}

type AssociationState =
  | 'idle'
  | 'cookie-wait'
  | 'cookie-echoed'
  | 'established'
  | 'shutdown-pending'
  | 'shutdown-sent'
  | 'shutdown-received'
  | 'shutdown-ack-sent'
  | 'closed';

export type SctpState = 'connecting' | 'connected' | 'closed';

export interface SctpOptions {
  /** The DTLS role: the client opens even stream ids, the server odd ones (RFC 8832 §6). */
  isClient: boolean;
  /** One SCTP packet out (as DTLS application data). Must not call receive() synchronously. */
  send: (packet: Buffer) => void;
  /** The largest message we send or accept (our SDP a=max-message-size); 256 KiB by default. */
  maxMessageSize?: number;
  /** Idle time before a HEARTBEAT (30 s by default). */
  heartbeatMs?: number;
}

export interface ChannelOptions {
  ordered: boolean;
  maxRetransmits?: number;
}

interface ChannelOps {
  send(ch: SctpChannel, data: Buffer, ppid: number): boolean;
  close(ch: SctpChannel): void;
}

/** One data channel: a stream pair of the association. */
export class SctpChannel implements DataChannelLike {
  /** @internal user-visible state */
  state: 'connecting' | 'open' | 'closed' = 'connecting';
  /** @internal we asked for (or completed) the reset of our outgoing stream */
  closing = false;
  /** @internal the peer reset its outgoing stream (our incoming one) */
  inReset = false;
  /** @internal our outgoing stream was reset */
  outReset = false;
  /** @internal the peer acknowledged the DCEP OPEN (or opened the channel itself) */
  acked: boolean;
  private messageCb: ((msg: string | Buffer | ArrayBuffer) => void) | undefined;
  private openCb: (() => void) | undefined;
  private closedCb: (() => void) | undefined;
  private early: (string | Buffer)[] = [];
  private closedFired = false;

  constructor(
    private readonly ops: ChannelOps,
    readonly stream: number,
    readonly label: string,
    readonly protocol: string,
    readonly ordered: boolean,
    readonly maxRetransmits: number | undefined,
    readonly maxLifetime: number | undefined,
    acked: boolean,
  ) {
    this.acked = acked;
  }

  getLabel(): string {
    return this.label;
  }

  isOpen(): boolean {
    return this.state === 'open';
  }

  /** Binary (PPID 53, or 57 for an empty message). False when not open or too big. */
  sendMessageBinary(buf: Buffer | Uint8Array): boolean {
    return this.ops.send(this, Buffer.from(buf), buf.length > 0 ? PPID_BINARY : PPID_BINARY_EMPTY);
  }

  /** Text (PPID 51, or 56 for an empty string). False when not open or too big. */
  sendMessage(text: string): boolean {
    const data = Buffer.from(text, 'utf8');
    return this.ops.send(this, data, data.length > 0 ? PPID_STRING : PPID_STRING_EMPTY);
  }

  onMessage(cb: (msg: string | Buffer | ArrayBuffer) => void): void {
    this.messageCb = cb;
    const early = this.early;
    this.early = [];
    for (const m of early) cb(m);
  }

  onOpen(cb: () => void): void {
    this.openCb = cb;
  }

  onClosed(cb: () => void): void {
    this.closedCb = cb;
  }

  close(): void {
    this.ops.close(this);
  }

  /** @internal */
  emitMessage(msg: string | Buffer): void {
    if (this.state !== 'open') return;
    if (this.messageCb) this.messageCb(msg);
    else if (this.early.length < MAX_EARLY_MESSAGES) this.early.push(msg);
  }

  /** @internal */
  emitOpen(): void {
    if (this.state === 'open') this.openCb?.();
  }

  /** @internal fires onClosed once */
  emitClosed(): void {
    this.state = 'closed';
    if (this.closedFired) return;
    this.closedFired = true;
    this.early = [];
    this.closedCb?.();
  }
}

export class SctpEndpoint {
  /** Packets (or chunks) dropped as malformed, mis-tagged or with a bad checksum. */
  dropped = 0;
  /** Exceptions thrown by our callbacks (swallowed so that the association stays consistent). */
  callbackErrors = 0;
  onChannel?: (dc: SctpChannel) => void;
  onStateChange?: (s: SctpState) => void;

  private readonly isClient: boolean;
  private readonly sendFn: (packet: Buffer) => void;
  private readonly maxMessageSize: number;
  private readonly heartbeatMs: number;
  private readonly secret = randomBytes(32);
  private readonly ops: ChannelOps;

  private st: AssociationState = 'idle';
  private announced: SctpState | undefined;
  private myTag = randomTag();
  private myInitialTsn = randomU32();
  private peerTag = 0;
  private peerForwardTsn = false;
  private peerReconfig = false;
  private outStreams = STREAMS;
  private inStreamLimit = STREAMS;

  // sending
  private nextTsn = 0;
  private lastCumAck = 0;
  /** RFC 3758 Advanced.Peer.Ack.Point */
  private advancedPeerAck = 0;
  /** Every chunk with a TSN above lastCumAck, in TSN order (contiguous). */
  private readonly inflight = new Queue<OutChunk>();
  /** Messages without TSNs yet. */
  private readonly pending = new Queue<OutMessage>();
  private nextToSend = 0;
  private queuedBytes = 0;
  private flightBytes = 0;
  private rtxPending = 0;
  private peerRwnd = RWND;
  private cwnd = INITIAL_CWND;
  private ssthresh = RWND;
  private partialBytesAcked = 0;
  private inFastRecovery = false;
  private fastRecoveryExit = 0;
  private fastRtxBypass = false;
  private forwardTsnNeeded = false;
  private lastDataSentAt = 0;
  private rto = RTO_INITIAL;
  private srtt = 0;
  private rttvar = 0;
  private haveRtt = false;
  private errorCount = 0;
  private readonly outSsn = new Map<number, number>();

  // receiving
  private cumTsn = 0;
  private readonly received = new Set<number>();
  private duplicates: number[] = [];
  private readonly reassembly = new Map<number, Fragment>();
  private readonly inStreams = new Map<number, InStream>();
  private bufferedBytes = 0;
  private packetsUnacked = 0;
  private sackNeeded = false;
  private sackNow = false;
  private dataInPacket = false;
  private malformedInPacket = false;
  private lastRecvAt = 0;

  // handshake and heartbeat
  private t1Packet: Buffer | undefined;
  private t1Rto = RTO_INITIAL;
  private initRetransmits = 0;
  private heartbeatNonce = 0;
  private heartbeatOutstanding = false;

  // stream reset (RFC 6525)
  private myReqSeq = 0;
  private peerReqSeq = 0;
  private readonly resetQueue = new Set<number>();
  private outReset: { seq: number; streams: number[]; lastTsn: number; tries: number } | undefined;
  private deferredReset: { seq: number; lastTsn: number; streams: number[] } | undefined;
  private lastResetResult: { seq: number; result: number } | undefined;
  private reconfigOut: Buffer[] = [];

  private readonly channels = new Map<number, SctpChannel>();

  // one timer for every deadline (0: not set)
  private t1 = 0;
  private t2 = 0;
  private t3 = 0;
  private tSack = 0;
  private tHeartbeat = 0;
  private tReconfig = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;

  // outgoing packet under construction, and whole packets waiting to go out
  private outChunks: Buffer[] = [];
  private outSize = HEADER;
  private outbox: Buffer[] = [];
  private flushScheduled = false;

  constructor(opts: SctpOptions) {
    this.isClient = opts.isClient;
    this.sendFn = opts.send;
    this.maxMessageSize = opts.maxMessageSize ?? 256 * 1024;
    this.heartbeatMs = opts.heartbeatMs ?? HEARTBEAT_MS;
    this.ops = {
      send: (ch, data, ppid) => this.channelSend(ch, data, ppid),
      close: (ch) => this.channelClose(ch),
    };
  }

  /** 'connecting' until the association is up, then 'connected', finally 'closed'. */
  get state(): SctpState {
    if (this.st === 'closed') return 'closed';
    return this.st === 'idle' || this.st === 'cookie-wait' || this.st === 'cookie-echoed'
      ? 'connecting'
      : 'connected';
  }

  /** Our verification tag and the peer's (0 until known): one association means they pair up. */
  get tags(): { local: number; remote: number } {
    return { local: this.myTag, remote: this.peerTag };
  }

  /** Bytes given to channels and not yet acknowledged by the peer. */
  get bufferedAmount(): number {
    return this.queuedBytes;
  }

  start(): void {
    if (this.st !== 'idle') return;
    this.st = 'cookie-wait';
    this.announce('connecting');
    const pkt = this.buildPacket(0, [
      makeChunk(CT_INIT, 0, initValue(this.myTag, this.myInitialTsn, EXTENSION_PARAMS)),
    ]);
    this.t1Packet = pkt;
    this.t1Rto = RTO_INITIAL;
    this.initRetransmits = 0;
    this.outbox.push(pkt);
    this.t1 = performance.now() + this.t1Rto;
    this.flush();
  }

  receive(packet: Buffer): void {
    if (this.st === 'closed') return;
    this.malformedInPacket = false;
    try {
      if (!this.handlePacket(packet) || this.malformedInPacket) this.dropped++;
    } catch {
      this.dropped++;
    }
    this.flush();
  }

  createChannel(label: string, opts: ChannelOptions): SctpChannel {
    const maxRetransmits =
      opts.maxRetransmits !== undefined && opts.maxRetransmits >= 0
        ? Math.min(Math.floor(opts.maxRetransmits), 0xffffffff)
        : undefined;
    let stream = -1;
    for (let s = this.isClient ? 0 : 1; s < STREAMS; s += 2) {
      if (!this.channels.has(s)) {
        stream = s;
        break;
      }
    }
    const ch = new SctpChannel(
      this.ops,
      Math.max(stream, 0),
      label,
      '',
      opts.ordered,
      maxRetransmits,
      undefined,
      false,
    );
    const usable =
      this.st === 'established' ||
      this.st === 'idle' ||
      this.st === 'cookie-wait' ||
      this.st === 'cookie-echoed';
    if (stream < 0 || !usable) {
      ch.state = 'closed';
      return ch;
    }
    this.channels.set(stream, ch);
    if (this.st === 'established') {
      this.openChannel(ch);
      queueMicrotask(() => this.safe(() => ch.emitOpen()));
      this.scheduleFlush();
    }
    return ch;
  }

  /** Immediate close: ABORT to the peer, every timer stopped. */
  close(): void {
    if (this.st === 'closed') return;
    if (this.peerTag !== 0 && this.st !== 'idle' && this.st !== 'cookie-wait') {
      this.outChunks = [];
      this.outSize = HEADER;
      this.outbox.push(this.buildPacket(this.peerTag, [makeChunk(CT_ABORT, 0)]));
    }
    this.finish();
    this.drainOutbox();
  }

  /** Graceful close: outstanding data is delivered, then SHUTDOWN / SHUTDOWN ACK / SHUTDOWN COMPLETE. */
  shutdown(): void {
    if (this.st !== 'established') {
      if (this.st === 'idle' || this.st === 'cookie-wait' || this.st === 'cookie-echoed') this.close();
      return;
    }
    this.st = 'shutdown-pending';
    this.closeAllChannels();
    this.flush();
  }

  // ---- packets in ----------------------------------------------------------------------------

  private handlePacket(p: Buffer): boolean {
    if (p.length < HEADER + 4) return false;
    if (p.readUInt16BE(2) !== PORT) return false;
    if (p.readUInt32LE(8) !== packetChecksum(p)) return false;
    const vtag = p.readUInt32BE(4);
    // chunk boundaries first: a packet with one bad chunk header is dropped whole
    const starts: number[] = [];
    let off = HEADER;
    while (off + 4 <= p.length) {
      const len = p.readUInt16BE(off + 2);
      if (len < 4 || off + len > p.length) return false;
      starts.push(off);
      off += (len + 3) & ~3;
    }
    if (starts.length === 0) return false;
    const first = p[HEADER];
    for (let i = 1; i < starts.length; i++) {
      const t = p[starts[i]];
      if (t === CT_INIT || t === CT_INIT_ACK || t === CT_SHUTDOWN_COMPLETE) return false;
    }
    if (first === CT_INIT) {
      if (vtag !== 0 || starts.length !== 1) return false;
    } else if (first === CT_ABORT || first === CT_SHUTDOWN_COMPLETE) {
      const t = (p[HEADER + 1] & F_T) !== 0;
      if (t ? vtag !== this.peerTag || this.peerTag === 0 : vtag !== this.myTag) return false;
    } else if (first !== CT_COOKIE_ECHO && vtag !== this.myTag) {
      return false;
    }

    const now = performance.now();
    this.dataInPacket = false;
    this.sackNow = false;
    let verified = first !== CT_COOKIE_ECHO;
    for (const start of starts) {
      const type = p[start];
      const flags = p[start + 1];
      const value = p.subarray(start + 4, start + p.readUInt16BE(start + 2));
      if (!verified) {
        // the COOKIE ECHO carries the tag it must match; what follows it needs our (new) tag
        if (!this.onCookieEcho(value, vtag, now)) return !this.malformedInPacket;
        verified = true;
        this.lastRecvAt = now;
        this.heartbeatOutstanding = false;
        continue;
      }
      if (start === starts[0]) {
        this.lastRecvAt = now;
        this.heartbeatOutstanding = false;
      }
      if (!this.handleChunk(type, flags, value, now)) break;
      if (this.st === 'closed') return true;
    }

    if (this.dataInPacket) {
      this.packetsUnacked++;
      if (this.sackNow || this.received.size > 0 || this.packetsUnacked >= 2) this.sackNeeded = true;
      else if (this.tSack === 0) this.tSack = now + SACK_DELAY_MS;
    } else if (this.sackNow) {
      this.sackNeeded = true;
    }
    this.checkDeferredReset();
    return true;
  }

  /** False: stop processing the rest of the packet. */
  private handleChunk(type: number, flags: number, v: Buffer, now: number): boolean {
    switch (type) {
      case CT_DATA:
        this.onData(flags, v);
        return true;
      case CT_SACK:
        this.onSack(v, now);
        return true;
      case CT_INIT:
        this.onInit(v);
        return false;
      case CT_INIT_ACK:
        this.onInitAck(v, now);
        return false;
      case CT_COOKIE_ECHO:
        // a second COOKIE ECHO in one packet
        this.malformed();
        return false;
      case CT_COOKIE_ACK:
        if (this.st === 'cookie-echoed') this.enterEstablished(now);
        return true;
      case CT_HEARTBEAT:
        if (this.hasPeer()) this.addChunk(makeChunk(CT_HEARTBEAT_ACK, 0, v));
        return true;
      case CT_HEARTBEAT_ACK:
        this.onHeartbeatAck(v, now);
        return true;
      case CT_ABORT:
        if (this.st !== 'idle') this.finish();
        return false;
      case CT_SHUTDOWN:
        this.onShutdown(v, now);
        return true;
      case CT_SHUTDOWN_ACK:
        if (this.st === 'shutdown-sent' || this.st === 'shutdown-ack-sent') {
          this.emitPacket();
          this.outbox.push(this.buildPacket(this.peerTag, [makeChunk(CT_SHUTDOWN_COMPLETE, 0)]));
          this.finish();
          return false;
        }
        return true;
      case CT_SHUTDOWN_COMPLETE:
        if (this.st === 'shutdown-ack-sent') this.finish();
        return false;
      case CT_ERROR:
        return true;
      case CT_FORWARD_TSN:
        this.onForwardTsn(v);
        return true;
      case CT_RECONFIG:
        this.onReconfig(v);
        return true;
      default:
        // RFC 9260 §3.2: the two high bits say whether to skip an unknown chunk or stop
        return (type & 0x80) !== 0;
    }
  }

  private malformed(): void {
    this.malformedInPacket = true;
  }

  private hasPeer(): boolean {
    return this.peerTag !== 0 && this.st !== 'idle' && this.st !== 'cookie-wait' && this.st !== 'closed';
  }

  private canSendData(): boolean {
    return this.st === 'established' || this.st === 'shutdown-pending' || this.st === 'shutdown-received';
  }

  private acceptsData(): boolean {
    return (
      this.st === 'established' ||
      this.st === 'shutdown-pending' ||
      this.st === 'shutdown-sent' ||
      this.st === 'shutdown-received'
    );
  }

  // ---- association setup ---------------------------------------------------------------------

  private onInit(v: Buffer): void {
    const init = parseInit(v);
    if (!init) {
      this.malformed();
      return;
    }
    if (this.st === 'closed') return;
    if (this.st === 'shutdown-ack-sent') {
      this.addChunk(makeChunk(CT_SHUTDOWN_ACK, 0));
      return;
    }
    let localTag = this.myTag;
    let localTsn = this.myInitialTsn;
    let localTie = 0;
    let peerTie = 0;
    if (this.st === 'cookie-echoed') {
      // §5.2.1: same parameters as our own INIT
      localTie = this.myTag;
      peerTie = this.peerTag;
    } else if (this.st !== 'idle' && this.st !== 'cookie-wait') {
      // §5.2.2: an unexpected INIT (a restart, or a late INIT of a collision): new tag, tie-tags
      localTag = randomTag(this.myTag, this.peerTag);
      localTsn = randomU32();
      localTie = this.myTag;
      peerTie = this.peerTag;
    }
    const cookie = this.makeCookie({ ...init, localTag, localTsn, localTie, peerTie });
    const params = Buffer.concat([EXTENSION_PARAMS, makeParam(P_STATE_COOKIE, cookie, true)]);
    this.emitPacket();
    this.outbox.push(
      this.buildPacket(init.tag, [makeChunk(CT_INIT_ACK, 0, initValue(localTag, localTsn, params))]),
    );
  }

  private onInitAck(v: Buffer, now: number): void {
    if (this.st !== 'cookie-wait') return; // §5.2.3: discarded in any other state
    const init = parseInit(v);
    if (!init?.cookie) {
      this.malformed();
      return;
    }
    this.applyPeer(init);
    this.st = 'cookie-echoed';
    const pkt = this.buildPacket(this.peerTag, [makeChunk(CT_COOKIE_ECHO, 0, init.cookie)]);
    this.t1Packet = pkt;
    this.t1Rto = RTO_INITIAL;
    this.initRetransmits = 0;
    this.t1 = now + this.t1Rto;
    this.emitPacket();
    this.outbox.push(pkt);
  }

  /** RFC 9260 §5.1.5 and §5.2.4. False: the rest of the packet is not ours. */
  private onCookieEcho(v: Buffer, vtag: number, now: number): boolean {
    const c = this.parseCookie(v, now);
    if (!c || vtag !== c.localTag) {
      this.malformed();
      return false;
    }
    if (this.st === 'closed') return false;
    if (this.st === 'idle') {
      this.myTag = c.localTag;
      this.myInitialTsn = c.localTsn;
      this.applyPeer(c);
      this.enterEstablished(now);
      this.addChunk(makeChunk(CT_COOKIE_ACK, 0));
      return true;
    }
    const localMatch = c.localTag === this.myTag;
    const peerMatch = c.tag === this.peerTag;
    if (
      !localMatch &&
      !peerMatch &&
      this.peerTag !== 0 &&
      c.localTie === this.myTag &&
      c.peerTie === this.peerTag
    ) {
      // (A) the peer restarted
      if (this.st === 'shutdown-ack-sent') {
        this.addChunk(makeChunk(CT_SHUTDOWN_ACK, 0));
        return false;
      }
      this.restart(c, now);
      this.addChunk(makeChunk(CT_COOKIE_ACK, 0));
      return true;
    }
    if (localMatch && !peerMatch) {
      // (B) a collision: the peer's tag from the cookie wins
      this.applyPeer(c);
      if (this.st === 'cookie-wait' || this.st === 'cookie-echoed') this.enterEstablished(now);
      this.addChunk(makeChunk(CT_COOKIE_ACK, 0));
      return true;
    }
    if (localMatch && peerMatch) {
      // (D) both tags match: the other half of a collision, or a lost COOKIE ACK
      if (this.st === 'cookie-echoed') this.enterEstablished(now);
      this.addChunk(makeChunk(CT_COOKIE_ACK, 0));
      return true;
    }
    return false; // (C) and anything else: silently discarded
  }

  private makeCookie(c: Cookie): Buffer {
    const b = Buffer.alloc(COOKIE_LENGTH);
    b[0] = 1;
    b[1] = (c.forwardTsn ? 1 : 0) | (c.reconfig ? 2 : 0);
    b.writeDoubleBE(performance.now(), 4);
    b.writeUInt32BE(c.localTag, 12);
    b.writeUInt32BE(c.tag, 16);
    b.writeUInt32BE(c.localTsn, 20);
    b.writeUInt32BE(c.tsn, 24);
    b.writeUInt32BE(c.rwnd, 28);
    b.writeUInt16BE(c.os, 32);
    b.writeUInt16BE(c.mis, 34);
    b.writeUInt32BE(c.localTie, 36);
    b.writeUInt32BE(c.peerTie, 40);
    this.cookieMac(b).copy(b, COOKIE_BODY);
    return b;
  }

  private parseCookie(v: Buffer, now: number): Cookie | undefined {
    if (v.length !== COOKIE_LENGTH || v[0] !== 1) return undefined;
    if (!timingSafeEqual(this.cookieMac(v), v.subarray(COOKIE_BODY))) return undefined;
    const age = now - v.readDoubleBE(4);
    if (!(age >= -1 && age <= COOKIE_LIFETIME_MS)) return undefined;
    return {
      forwardTsn: (v[1] & 1) !== 0,
      reconfig: (v[1] & 2) !== 0,
      localTag: v.readUInt32BE(12),
      tag: v.readUInt32BE(16),
      localTsn: v.readUInt32BE(20),
      tsn: v.readUInt32BE(24),
      rwnd: v.readUInt32BE(28),
      os: v.readUInt16BE(32),
      mis: v.readUInt16BE(34),
      localTie: v.readUInt32BE(36),
      peerTie: v.readUInt32BE(40),
    };
  }

  private cookieMac(b: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(b.subarray(0, COOKIE_BODY)).digest().subarray(0, 16);
  }

  /** The peer's side of the TCB; a new peer tag means a new receive state. */
  private applyPeer(p: PeerParams): void {
    if (this.peerTag !== p.tag) {
      this.peerTag = p.tag;
      this.cumTsn = add32(p.tsn, -1);
      this.received.clear();
      this.duplicates = [];
      this.reassembly.clear();
      this.inStreams.clear();
      this.bufferedBytes = 0;
      this.peerReqSeq = p.tsn;
      this.deferredReset = undefined;
      this.lastResetResult = undefined;
    }
    this.peerRwnd = p.rwnd;
    this.ssthresh = Math.max(p.rwnd, 4 * MTU);
    this.outStreams = Math.min(STREAMS, p.mis);
    this.inStreamLimit = Math.min(STREAMS, p.os);
    this.peerForwardTsn = p.forwardTsn;
    this.peerReconfig = p.reconfig;
  }

  private initSendSide(now: number): void {
    this.nextTsn = this.myInitialTsn;
    this.lastCumAck = add32(this.myInitialTsn, -1);
    this.advancedPeerAck = this.lastCumAck;
    this.nextToSend = this.myInitialTsn;
    this.myReqSeq = this.myInitialTsn;
    this.cwnd = INITIAL_CWND;
    this.partialBytesAcked = 0;
    this.errorCount = 0;
    this.lastRecvAt = now;
    this.tHeartbeat = now + this.heartbeatMs;
  }

  private enterEstablished(now: number): void {
    this.st = 'established';
    this.t1 = 0;
    this.t1Packet = undefined;
    this.initSendSide(now);
    this.announce('connected');
    const waiting = [...this.channels.values()].filter((ch) => ch.state === 'connecting');
    for (const ch of waiting) this.openChannel(ch);
    for (const ch of waiting) this.safe(() => ch.emitOpen());
  }

  private restart(c: Cookie, now: number): void {
    this.closeAllChannels();
    this.channels.clear();
    this.pending.clear();
    this.inflight.clear();
    this.queuedBytes = 0;
    this.flightBytes = 0;
    this.rtxPending = 0;
    this.outSsn.clear();
    this.resetQueue.clear();
    this.outReset = undefined;
    this.tReconfig = 0;
    this.t3 = 0;
    this.myTag = c.localTag;
    this.myInitialTsn = c.localTsn;
    this.peerTag = 0;
    this.applyPeer(c);
    this.initSendSide(now);
  }

  // ---- data in -------------------------------------------------------------------------------

  private onData(flags: number, v: Buffer): void {
    if (!this.acceptsData()) return;
    if (v.length < 13) {
      this.malformed(); // no user data (or a truncated header)
      return;
    }
    this.dataInPacket = true;
    if (flags & F_IMMEDIATE) this.sackNow = true;
    const tsn = v.readUInt32BE(0);
    if (le32(tsn, this.cumTsn) || this.received.has(tsn)) {
      if (this.duplicates.length < MAX_DUPLICATES) this.duplicates.push(tsn);
      this.sackNow = true;
      return;
    }
    const ahead = (tsn - this.cumTsn) >>> 0;
    if (ahead > MAX_TSN_AHEAD) return; // beyond what a SACK can describe: the peer sends it again
    const stream = v.readUInt16BE(4);
    const data = v.subarray(12);
    if (stream >= this.inStreamLimit) {
      this.markReceived(tsn); // acknowledged and discarded (§6.5)
      return;
    }
    const fits =
      this.bufferedBytes + data.length <= RWND ||
      (ahead === 1 && this.bufferedBytes + data.length <= 2 * RWND);
    if (!fits) {
      this.sackNow = true; // dropped for want of buffer: the peer learns our window
      return;
    }
    if (ahead !== 1) this.sackNow = true;
    this.markReceived(tsn);
    const frag: Fragment = {
      tsn,
      stream,
      ssn: v.readUInt16BE(6),
      ppid: v.readUInt32BE(8),
      flags,
      data: Buffer.from(data),
    };
    if ((flags & (F_BEGIN | F_END)) === (F_BEGIN | F_END)) {
      this.messageComplete({
        stream,
        ssn: frag.ssn,
        ppid: frag.ppid,
        unordered: (flags & F_UNORDERED) !== 0,
        data: frag.data,
      });
      return;
    }
    this.reassembly.set(tsn, frag);
    this.bufferedBytes += frag.data.length;
    this.tryReassemble(frag);
  }

  private markReceived(tsn: number): void {
    if (tsn === add32(this.cumTsn, 1)) {
      this.cumTsn = tsn;
      this.advanceCumTsn();
    } else {
      this.received.add(tsn);
    }
  }

  private advanceCumTsn(): void {
    for (;;) {
      const next = add32(this.cumTsn, 1);
      if (!this.received.delete(next)) return;
      this.cumTsn = next;
    }
  }

  private static sameMessage(a: Fragment, f: Fragment): boolean {
    if (a.stream !== f.stream || (a.flags & F_UNORDERED) !== (f.flags & F_UNORDERED)) return false;
    return (f.flags & F_UNORDERED) !== 0 || a.ssn === f.ssn;
  }

  /** Fragments of one message have consecutive TSNs: walk to its B and E fragments. */
  private tryReassemble(f: Fragment): void {
    let first = f;
    let steps = 0;
    while (!(first.flags & F_BEGIN)) {
      const prev = this.reassembly.get(add32(first.tsn, -1));
      if (!prev || !SctpEndpoint.sameMessage(prev, f) || prev.flags & F_END || ++steps > MAX_FRAGMENTS)
        return;
      first = prev;
    }
    let last = f;
    while (!(last.flags & F_END)) {
      const next = this.reassembly.get(add32(last.tsn, 1));
      if (!next || !SctpEndpoint.sameMessage(next, f) || next.flags & F_BEGIN || ++steps > MAX_FRAGMENTS)
        return;
      last = next;
    }
    const parts: Buffer[] = [];
    for (let t = first.tsn; ; t = add32(t, 1)) {
      const part = this.reassembly.get(t)!;
      this.reassembly.delete(t);
      this.bufferedBytes -= part.data.length;
      parts.push(part.data);
      if (t === last.tsn) break;
    }
    this.messageComplete({
      stream: f.stream,
      ssn: first.ssn,
      ppid: first.ppid,
      unordered: (f.flags & F_UNORDERED) !== 0,
      data: Buffer.concat(parts),
    });
  }

  private inStream(stream: number): InStream {
    let s = this.inStreams.get(stream);
    if (!s) {
      s = { nextSsn: 0, queue: new Map() };
      this.inStreams.set(stream, s);
    }
    return s;
  }

  private messageComplete(m: InMessage): void {
    if (m.unordered) {
      this.deliver(m);
      return;
    }
    const s = this.inStream(m.stream);
    if (m.ssn === s.nextSsn) {
      s.nextSsn = (s.nextSsn + 1) & 0xffff;
      this.deliver(m);
      this.drainStream(m.stream, s);
    } else if (lt16(s.nextSsn, m.ssn) && !s.queue.has(m.ssn)) {
      s.queue.set(m.ssn, m);
      this.bufferedBytes += m.data.length;
    }
  }

  private drainStream(stream: number, s: InStream): void {
    for (;;) {
      const m = s.queue.get(s.nextSsn);
      if (!m) return;
      s.queue.delete(s.nextSsn);
      this.bufferedBytes -= m.data.length;
      s.nextSsn = (s.nextSsn + 1) & 0xffff;
      this.deliver(m);
      if (this.inStreams.get(stream) !== s) return; // reset by a callback
    }
  }

  private deliver(m: InMessage): void {
    if (m.ppid === PPID_DCEP) {
      this.onDcep(m.stream, m.data);
      return;
    }
    const ch = this.channels.get(m.stream);
    if (ch?.state !== 'open') return;
    let msg: string | Buffer;
    switch (m.ppid) {
      case PPID_STRING:
      case PPID_STRING_PARTIAL:
        msg = m.data.toString('utf8');
        break;
      case PPID_BINARY:
      case PPID_BINARY_PARTIAL:
        msg = m.data;
        break;
      case PPID_STRING_EMPTY:
        msg = '';
        break;
      case PPID_BINARY_EMPTY:
        msg = Buffer.alloc(0);
        break;
      default:
        return;
    }
    this.safe(() => ch.emitMessage(msg));
  }

  private onForwardTsn(v: Buffer): void {
    if (!this.acceptsData()) return;
    if (v.length < 4) {
      this.malformed();
      return;
    }
    this.sackNow = true;
    const newCum = v.readUInt32BE(0);
    if (le32(newCum, this.cumTsn)) return;
    this.cumTsn = newCum;
    for (const t of this.received) if (le32(t, newCum)) this.received.delete(t);
    this.advanceCumTsn();
    this.dropStranded(newCum);
    // ordered streams skip to the reported SSN, delivering what waited for the skipped ones
    for (let off = 4; off + 4 <= v.length; off += 4) {
      const stream = v.readUInt16BE(off);
      const ssn = v.readUInt16BE(off + 2);
      const s = this.inStreams.get(stream);
      if (!s) {
        if (stream < this.inStreamLimit)
          this.inStreams.set(stream, { nextSsn: (ssn + 1) & 0xffff, queue: new Map() });
        continue;
      }
      if (lt16(ssn, s.nextSsn)) continue;
      const span = (ssn - s.nextSsn) & 0xffff;
      const ready = [...s.queue.values()]
        .filter((m) => ((m.ssn - s.nextSsn) & 0xffff) <= span)
        .sort((a, b) => ((a.ssn - s.nextSsn) & 0xffff) - ((b.ssn - s.nextSsn) & 0xffff));
      s.nextSsn = (ssn + 1) & 0xffff;
      for (const m of ready) {
        s.queue.delete(m.ssn);
        this.bufferedBytes -= m.data.length;
        this.deliver(m);
      }
      if (this.inStreams.get(stream) === s) this.drainStream(stream, s);
    }
  }

  /** RFC 3758 §3.6: drop partial messages missing a TSN at or below the new cumulative TSN. */
  private dropStranded(newCum: number): void {
    const seen = new Set<number>();
    const doomed: Fragment[] = [];
    for (const f of this.reassembly.values()) {
      if (seen.has(f.tsn) || !le32(f.tsn, newCum)) continue;
      const run = [f];
      seen.add(f.tsn);
      let ok = true;
      let cur = f;
      while (ok && !(cur.flags & F_BEGIN)) {
        const prev = this.reassembly.get(add32(cur.tsn, -1));
        if (!prev || !SctpEndpoint.sameMessage(prev, f) || prev.flags & F_END || run.length > MAX_FRAGMENTS)
          ok = false;
        else {
          cur = prev;
          run.push(prev);
          seen.add(prev.tsn);
        }
      }
      cur = f;
      while (ok && !(cur.flags & F_END)) {
        const nextTsn = add32(cur.tsn, 1);
        const next = this.reassembly.get(nextTsn);
        if (!next) {
          if (le32(nextTsn, newCum)) ok = false;
          break;
        }
        if (!SctpEndpoint.sameMessage(next, f) || next.flags & F_BEGIN || run.length > MAX_FRAGMENTS)
          ok = false;
        else {
          cur = next;
          run.push(next);
          seen.add(next.tsn);
        }
      }
      if (!ok) doomed.push(...run);
    }
    for (const f of doomed) {
      this.reassembly.delete(f.tsn);
      this.bufferedBytes -= f.data.length;
    }
  }

  // ---- acknowledgements in -------------------------------------------------------------------

  private onSack(v: Buffer, now: number): void {
    if (!this.acceptsData()) return;
    if (v.length < 12) {
      this.malformed();
      return;
    }
    const gapCount = v.readUInt16BE(8);
    const dupCount = v.readUInt16BE(10);
    if (v.length < 12 + 4 * gapCount + 4 * dupCount) {
      this.malformed();
      return;
    }
    const gaps: [number, number][] = [];
    for (let i = 0; i < gapCount; i++) {
      const s = v.readUInt16BE(12 + 4 * i);
      const e = v.readUInt16BE(14 + 4 * i);
      if (s !== 0 && s <= e) gaps.push([s, e]);
    }
    gaps.sort((a, b) => a[0] - b[0]);
    this.processAck(v.readUInt32BE(0), v.readUInt32BE(4), gaps, now);
  }

  private releaseChunk(c: OutChunk): void {
    if (c.inFlight) {
      c.inFlight = false;
      this.flightBytes -= c.data.length;
    }
    if (c.rtx) {
      c.rtx = false;
      this.rtxPending--;
    }
  }

  private markRetransmit(c: OutChunk): void {
    if (c.inFlight) {
      c.inFlight = false;
      this.flightBytes -= c.data.length;
    }
    if (!c.rtx) {
      c.rtx = true;
      this.rtxPending++;
    }
  }

  private shouldAbandon(c: OutChunk, now: number): boolean {
    if (!this.peerForwardTsn) return false;
    const m = c.msg;
    if (m.maxRetransmits !== undefined && c.sent > m.maxRetransmits) return true;
    return m.lifetime !== undefined && now - m.createdAt >= m.lifetime;
  }

  private abandon(m: OutMessage): void {
    if (m.abandoned) return;
    m.abandoned = true;
    for (const c of m.chunks) this.releaseChunk(c);
  }

  /**
   * RFC 3758 C2: move the Advanced.Peer.Ack.Point over abandoned chunks. It also moves over whole
   * messages the peer reported in gap blocks (it has them), so that one FORWARD-TSN covers a run
   * of abandoned messages interleaved with delivered ones; never over part of a message.
   */
  private advancePeerAckPoint(): void {
    if (lt32(this.advancedPeerAck, this.lastCumAck)) this.advancedPeerAck = this.lastCumAck;
    let i = (this.advancedPeerAck - this.lastCumAck) >>> 0;
    while (i < this.inflight.length) {
      const c = this.inflight.at(i);
      if (c.msg.abandoned) {
        this.advancedPeerAck = c.tsn;
        i++;
      } else if (c.acked && this.messageAcked(c.msg)) {
        const last = c.msg.chunks[c.msg.chunks.length - 1];
        this.advancedPeerAck = last.tsn;
        i += ((last.tsn - c.tsn) >>> 0) + 1;
      } else {
        break;
      }
    }
  }

  private messageAcked(m: OutMessage): boolean {
    return m.chunks.every((c) => c.acked || le32(c.tsn, this.lastCumAck));
  }

  /** RFC 9260 §6.2.1, §7.2 and RFC 3758 §3.5 on a SACK (or the cumulative ack of a SHUTDOWN). */
  private processAck(cum: number, arwnd: number | undefined, gaps: [number, number][], now: number): void {
    if (lt32(cum, this.lastCumAck)) return; // stale
    if (lt32(add32(this.nextTsn, -1), cum)) {
      this.malformed(); // acknowledges TSNs never assigned
      return;
    }
    const flightBefore = this.flightBytes;
    const cumAdvanced = lt32(this.lastCumAck, cum);
    let newlyAcked = 0;
    let highestNewlyAcked: number | undefined;
    let rttSample: number | undefined;
    const acked = (c: OutChunk) => {
      if (c.msg.abandoned || c.sent === 0) return;
      newlyAcked += c.data.length;
      highestNewlyAcked = c.tsn;
      if (c.sent === 1) rttSample = now - c.sentAt;
    };
    while (this.inflight.length > 0 && le32(this.inflight.at(0).tsn, cum)) {
      const c = this.inflight.shift()!;
      this.queuedBytes -= c.data.length;
      if (!c.acked) acked(c);
      this.releaseChunk(c);
    }
    this.lastCumAck = cum;
    if (lt32(this.nextToSend, add32(cum, 1))) this.nextToSend = add32(cum, 1);

    const lastReported = gaps.reduce((m, g) => Math.max(m, g[1]), 0);
    let g = 0;
    for (let i = 0; i < this.inflight.length; i++) {
      const c = this.inflight.at(i);
      const off = (c.tsn - cum) >>> 0;
      if (off > lastReported) break;
      while (g < gaps.length && gaps[g][1] < off) g++;
      const covered = g < gaps.length && gaps[g][0] <= off;
      if (covered && !c.acked) {
        c.acked = true;
        acked(c);
        this.releaseChunk(c);
      } else if (!covered && c.acked) {
        c.acked = false; // reneged: send it again
        if (!c.msg.abandoned && c.sent > 0) this.markRetransmit(c);
      }
    }

    // fast retransmit: three miss indications below the highest newly acknowledged TSN
    if (highestNewlyAcked !== undefined) {
      let marked = false;
      for (let i = 0; i < this.inflight.length; i++) {
        const c = this.inflight.at(i);
        if (!lt32(c.tsn, highestNewlyAcked)) break;
        if (c.acked || c.msg.abandoned || c.sent === 0 || c.rtx || c.fastRetransmitted) continue;
        if (++c.missing < 3) continue;
        if (this.shouldAbandon(c, now)) this.abandon(c.msg);
        else {
          c.fastRetransmitted = true;
          this.markRetransmit(c);
          marked = true;
        }
      }
      if (marked) {
        if (!this.inFastRecovery) {
          this.ssthresh = Math.max(this.cwnd / 2, 4 * MTU);
          this.cwnd = this.ssthresh;
          this.partialBytesAcked = 0;
          this.inFastRecovery = true;
          this.fastRecoveryExit = add32(this.nextTsn, -1);
        }
        this.fastRtxBypass = true;
      }
    }

    if (rttSample !== undefined) this.updateRto(rttSample);
    if (this.inFastRecovery && le32(this.fastRecoveryExit, cum)) this.inFastRecovery = false;
    if (cumAdvanced && newlyAcked > 0 && !this.inFastRecovery) {
      const utilized = flightBefore + MTU >= this.cwnd;
      if (this.cwnd <= this.ssthresh) {
        if (utilized) this.cwnd += Math.min(newlyAcked, MTU);
      } else {
        this.partialBytesAcked += newlyAcked;
        if (this.partialBytesAcked >= this.cwnd && utilized) {
          this.partialBytesAcked -= this.cwnd;
          this.cwnd += MTU;
        }
      }
    }
    if (this.flightBytes === 0) this.partialBytesAcked = 0;
    if (arwnd !== undefined) this.peerRwnd = Math.max(0, arwnd - this.flightBytes);
    if (cumAdvanced || newlyAcked > 0) this.errorCount = 0;

    this.advancePeerAckPoint();
    if (lt32(cum, this.advancedPeerAck)) this.forwardTsnNeeded = true;

    if (this.flightBytes === 0 && this.rtxPending === 0 && !lt32(cum, this.advancedPeerAck)) this.t3 = 0;
    else if (cumAdvanced || this.t3 === 0) this.t3 = now + this.rto;
  }

  private updateRto(r: number): void {
    if (!this.haveRtt) {
      this.srtt = r;
      this.rttvar = r / 2;
      this.haveRtt = true;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = Math.min(RTO_MAX, Math.max(RTO_MIN, this.srtt + 4 * this.rttvar));
  }

  private onHeartbeatAck(v: Buffer, now: number): void {
    // our Heartbeat Info: type 1, length 16, the send time and a nonce
    if (v.length < 16 || v.readUInt16BE(0) !== P_HEARTBEAT_INFO || v.readUInt32BE(12) !== this.heartbeatNonce)
      return;
    this.errorCount = 0;
    const rtt = now - v.readDoubleBE(4);
    if (rtt >= 0 && rtt < RTO_MAX) this.updateRto(rtt);
  }

  private onShutdown(v: Buffer, now: number): void {
    if (!this.acceptsData()) return;
    if (v.length < 4) {
      this.malformed();
      return;
    }
    this.processAck(v.readUInt32BE(0), undefined, [], now);
    if (this.st === 'shutdown-sent') {
      // both sides shut down at once
      this.st = 'shutdown-ack-sent';
      this.addChunk(makeChunk(CT_SHUTDOWN_ACK, 0));
      this.t2 = now + this.rto;
      this.t3 = 0;
    } else if (this.st === 'established' || this.st === 'shutdown-pending') {
      this.st = 'shutdown-received';
      this.closeAllChannels();
    }
  }

  // ---- stream reset (RFC 6525) ---------------------------------------------------------------

  private onReconfig(v: Buffer): void {
    if (!this.acceptsData()) return;
    let off = 0;
    while (off + 4 <= v.length) {
      const type = v.readUInt16BE(off);
      const len = v.readUInt16BE(off + 2);
      if (len < 4 || off + len > v.length) {
        this.malformed();
        return;
      }
      const p = v.subarray(off + 4, off + len);
      if (type === P_OUTGOING_RESET) {
        if (p.length < 12) this.malformed();
        else {
          const streams: number[] = [];
          for (let i = 12; i + 2 <= p.length; i += 2) streams.push(p.readUInt16BE(i));
          this.onOutgoingResetRequest(p.readUInt32BE(0), p.readUInt32BE(8), streams);
        }
      } else if (type === P_RECONFIG_RESPONSE) {
        if (p.length < 8) this.malformed();
        else this.onReconfigResponse(p.readUInt32BE(0), p.readUInt32BE(4));
      } else if (type >= 14 && type <= 18) {
        // Incoming SSN Reset, SSN/TSN Reset, Add Streams: not supported
        if (p.length < 4) this.malformed();
        else this.answerUnsupported(p.readUInt32BE(0));
      }
      off += (len + 3) & ~3;
    }
  }

  private respond(seq: number, result: number): void {
    const v = Buffer.alloc(8);
    v.writeUInt32BE(seq, 0);
    v.writeUInt32BE(result, 4);
    this.reconfigOut.push(makeChunk(CT_RECONFIG, 0, makeParam(P_RECONFIG_RESPONSE, v, true)));
  }

  private answerUnsupported(seq: number): void {
    if (seq === this.peerReqSeq) {
      this.peerReqSeq = add32(seq, 1);
      this.lastResetResult = { seq, result: R_DENIED };
      this.respond(seq, R_DENIED);
    } else if (seq === add32(this.peerReqSeq, -1) && this.lastResetResult?.seq === seq) {
      this.respond(seq, this.lastResetResult.result);
    } else {
      this.respond(seq, R_BAD_SEQUENCE);
    }
  }

  private onOutgoingResetRequest(seq: number, lastTsn: number, streams: number[]): void {
    if (seq === this.peerReqSeq) {
      if (this.deferredReset) {
        this.respond(seq, R_IN_PROGRESS);
      } else if (le32(lastTsn, this.cumTsn)) {
        this.performIncomingReset(seq, streams);
      } else {
        // data up to lastTsn is still on its way: reset once it has arrived
        this.deferredReset = { seq, lastTsn, streams };
        this.respond(seq, R_IN_PROGRESS);
      }
    } else if (seq === add32(this.peerReqSeq, -1) && this.lastResetResult?.seq === seq) {
      this.respond(seq, this.lastResetResult.result);
    } else {
      this.respond(seq, R_BAD_SEQUENCE);
    }
  }

  private checkDeferredReset(): void {
    const d = this.deferredReset;
    if (!d || !le32(d.lastTsn, this.cumTsn)) return;
    this.deferredReset = undefined;
    this.performIncomingReset(d.seq, d.streams);
  }

  private performIncomingReset(seq: number, streams: number[]): void {
    this.peerReqSeq = add32(seq, 1);
    this.lastResetResult = { seq, result: R_PERFORMED };
    this.respond(seq, R_PERFORMED);
    const all = streams.length === 0;
    const list = all ? [...new Set([...this.inStreams.keys(), ...this.channels.keys()])] : streams;
    for (const s of list) {
      const q = this.inStreams.get(s);
      if (q) for (const m of q.queue.values()) this.bufferedBytes -= m.data.length;
      this.inStreams.delete(s);
      const ch = this.channels.get(s);
      if (!ch) continue;
      ch.inReset = true;
      if (!ch.closing) {
        // the peer closed the channel: close our side too (RFC 8831 §6.7)
        ch.closing = true;
        this.requestReset(ch);
      }
      this.safe(() => ch.emitClosed());
      this.maybeFree(ch);
    }
  }

  private requestReset(ch: SctpChannel): void {
    if (!this.peerReconfig || !this.canSendData()) {
      ch.outReset = true;
      ch.inReset = true;
      this.maybeFree(ch);
      this.safe(() => ch.emitClosed());
      return;
    }
    this.resetQueue.add(ch.stream);
    this.scheduleFlush();
  }

  /** Sends an Outgoing SSN Reset Request for queued streams whose messages all have TSNs. */
  private startReset(now: number): void {
    if (this.outReset || this.resetQueue.size === 0 || this.st !== 'established') return;
    const busy = new Set<number>();
    for (let i = 0; i < this.pending.length; i++) busy.add(this.pending.at(i).stream);
    const streams: number[] = [];
    for (const s of this.resetQueue) {
      if (busy.has(s)) continue;
      streams.push(s);
      if (streams.length >= MAX_RESET_STREAMS) break;
    }
    if (streams.length === 0) return;
    for (const s of streams) this.resetQueue.delete(s);
    this.outReset = { seq: this.myReqSeq, streams, lastTsn: add32(this.nextTsn, -1), tries: 0 };
    this.myReqSeq = add32(this.myReqSeq, 1);
    this.addChunk(this.resetRequestChunk());
    this.tReconfig = now + this.rto;
  }

  private resetRequestChunk(): Buffer {
    const r = this.outReset!;
    const v = Buffer.alloc(12 + 2 * r.streams.length);
    v.writeUInt32BE(r.seq, 0);
    v.writeUInt32BE(add32(this.peerReqSeq, -1), 4);
    v.writeUInt32BE(r.lastTsn, 8);
    r.streams.forEach((s, i) => {
      v.writeUInt16BE(s, 12 + 2 * i);
    });
    return makeChunk(CT_RECONFIG, 0, makeParam(P_OUTGOING_RESET, v, true));
  }

  private onReconfigResponse(seq: number, result: number): void {
    const r = this.outReset;
    if (!r || seq !== r.seq) return;
    if (result === R_IN_PROGRESS) {
      this.tReconfig = performance.now() + this.rto; // ask again later
      return;
    }
    this.outReset = undefined;
    this.tReconfig = 0;
    this.resetDone(r.streams, result === R_PERFORMED || result === R_NOTHING_TO_DO);
    this.scheduleFlush();
  }

  private resetDone(streams: number[], performed: boolean): void {
    for (const s of streams) {
      if (performed) this.outSsn.delete(s);
      const ch = this.channels.get(s);
      if (!ch) continue;
      ch.outReset = true;
      if (!performed) ch.inReset = true; // the peer will not reset: give the stream up
      this.safe(() => ch.emitClosed());
      this.maybeFree(ch);
    }
  }

  private maybeFree(ch: SctpChannel): void {
    if (ch.inReset && ch.outReset && this.channels.get(ch.stream) === ch) {
      this.channels.delete(ch.stream);
      this.outSsn.delete(ch.stream);
    }
  }

  // ---- channels ------------------------------------------------------------------------------

  private onDcep(stream: number, data: Buffer): void {
    if (data.length < 1) return;
    if (data[0] === DCEP_ACK) {
      const ch = this.channels.get(stream);
      if (ch) ch.acked = true;
      return;
    }
    if (data[0] !== DCEP_OPEN) return;
    if (data.length < 12) {
      this.malformed();
      return;
    }
    const type = data[1];
    const reliability = data.readUInt32BE(4);
    const labelLen = data.readUInt16BE(8);
    const protocolLen = data.readUInt16BE(10);
    if (12 + labelLen + protocolLen > data.length) {
      this.malformed();
      return;
    }
    if (this.channels.has(stream) || stream >= this.outStreams || this.st !== 'established') return;
    const label = data.toString('utf8', 12, 12 + labelLen);
    const protocol = data.toString('utf8', 12 + labelLen, 12 + labelLen + protocolLen);
    const kind = type & 0x7f;
    const ch = new SctpChannel(
      this.ops,
      stream,
      label,
      protocol,
      (type & 0x80) === 0,
      kind === 0x01 ? reliability : undefined,
      kind === 0x02 ? reliability : undefined,
      true,
    );
    ch.state = 'open';
    this.channels.set(stream, ch);
    this.enqueue(stream, PPID_DCEP, Buffer.of(DCEP_ACK), false, undefined, undefined);
    this.safe(() => this.onChannel?.(ch));
  }

  private openChannel(ch: SctpChannel): void {
    if (ch.stream >= this.outStreams) {
      this.channels.delete(ch.stream);
      ch.state = 'closed';
      return;
    }
    const label = Buffer.from(ch.label, 'utf8');
    const protocol = Buffer.from(ch.protocol, 'utf8');
    const m = Buffer.alloc(12 + label.length + protocol.length);
    m[0] = DCEP_OPEN;
    m[1] =
      (ch.ordered ? 0 : 0x80) |
      (ch.maxRetransmits !== undefined ? 0x01 : ch.maxLifetime !== undefined ? 0x02 : 0);
    m.writeUInt16BE(DCEP_PRIORITY_NORMAL, 2);
    m.writeUInt32BE(ch.maxRetransmits ?? ch.maxLifetime ?? 0, 4);
    m.writeUInt16BE(label.length, 8);
    m.writeUInt16BE(protocol.length, 10);
    label.copy(m, 12);
    protocol.copy(m, 12 + label.length);
    ch.state = 'open';
    this.enqueue(ch.stream, PPID_DCEP, m, false, undefined, undefined);
  }

  private channelSend(ch: SctpChannel, data: Buffer, ppid: number): boolean {
    if (ch.state !== 'open' || ch.closing || this.st !== 'established') return false;
    if (data.length > this.maxMessageSize || this.queuedBytes + data.length > SEND_BUFFER_LIMIT) return false;
    // empty messages go out as one zero byte with the empty PPID (RFC 8831 §6.6)
    const payload = data.length > 0 ? data : Buffer.alloc(1);
    // until the DCEP ACK arrives, messages are ordered so that they cannot overtake the OPEN
    this.enqueue(ch.stream, ppid, payload, !ch.ordered && ch.acked, ch.maxRetransmits, ch.maxLifetime);
    return true;
  }

  private channelClose(ch: SctpChannel): void {
    if (ch.closing || this.channels.get(ch.stream) !== ch) {
      if (ch.state !== 'closed') this.safe(() => ch.emitClosed());
      return;
    }
    ch.closing = true;
    if (ch.state === 'connecting' || !this.canSendData()) {
      this.channels.delete(ch.stream);
      this.safe(() => ch.emitClosed());
      return;
    }
    ch.state = 'closed'; // no more sends; onClosed fires once the stream is reset
    this.requestReset(ch);
  }

  private closeAllChannels(): void {
    for (const ch of [...this.channels.values()]) {
      ch.closing = true;
      this.safe(() => ch.emitClosed());
    }
  }

  private enqueue(
    stream: number,
    ppid: number,
    data: Buffer,
    unordered: boolean,
    maxRetransmits: number | undefined,
    lifetime: number | undefined,
  ): void {
    let ssn = 0;
    if (!unordered) {
      ssn = this.outSsn.get(stream) ?? 0;
      this.outSsn.set(stream, (ssn + 1) & 0xffff);
    }
    this.pending.push({
      stream,
      ssn,
      ppid,
      unordered,
      maxRetransmits,
      lifetime,
      createdAt: performance.now(),
      data,
      chunks: [],
      abandoned: false,
    });
    this.queuedBytes += data.length;
    this.scheduleFlush();
  }

  // ---- packets out ---------------------------------------------------------------------------

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(() => {
      this.flushScheduled = false;
      if (this.st !== 'closed') this.flush();
    });
  }

  private flush(): void {
    try {
      if (this.st !== 'closed') this.buildOutgoing(performance.now());
    } catch {
      // a bug must not take the node down; the timers retry
      this.outChunks = [];
      this.outSize = HEADER;
    }
    this.drainOutbox();
    this.arm();
  }

  private buildOutgoing(now: number): void {
    const data = this.canSendData();
    if (!data && this.st !== 'shutdown-sent' && this.st !== 'shutdown-ack-sent') {
      this.emitPacket();
      return;
    }
    if (this.tSack !== 0 && data && (this.rtxPending > 0 || this.hasUnsent())) this.sackNeeded = true; // piggyback
    if (this.sackNeeded) {
      this.addChunk(this.sackChunk());
      this.sackNeeded = false;
      this.tSack = 0;
      this.packetsUnacked = 0;
    }
    if (this.forwardTsnNeeded) {
      this.forwardTsnNeeded = false;
      if (lt32(this.lastCumAck, this.advancedPeerAck)) this.addChunk(this.forwardTsnChunk());
    }
    for (const c of this.reconfigOut) this.addChunk(c);
    this.reconfigOut = [];
    if (data) {
      this.sendData(now);
      this.startReset(now);
    }
    const drained = this.inflight.length === 0 && this.pending.length === 0;
    if (this.st === 'shutdown-pending' && drained) {
      this.st = 'shutdown-sent';
      this.addChunk(this.shutdownChunk());
      this.t2 = now + this.rto;
      this.t3 = 0;
    } else if (this.st === 'shutdown-received' && drained) {
      this.st = 'shutdown-ack-sent';
      this.addChunk(makeChunk(CT_SHUTDOWN_ACK, 0));
      this.t2 = now + this.rto;
      this.t3 = 0;
    }
    this.emitPacket();
  }

  private hasUnsent(): boolean {
    return this.pending.length > 0 || (this.nextToSend - this.lastCumAck - 1) >>> 0 < this.inflight.length;
  }

  /** The next chunk with a TSN that was never sent (abandoned ones are skipped). */
  private nextUnsent(): OutChunk | undefined {
    while (this.inflight.length > 0) {
      const i = (this.nextToSend - this.inflight.at(0).tsn) >>> 0;
      if (i >= this.inflight.length) return undefined;
      const c = this.inflight.at(i);
      if (c.sent === 0 && !c.msg.abandoned) return c;
      this.nextToSend = add32(c.tsn, 1);
    }
    return undefined;
  }

  /** TSNs for every fragment of a message at once, so that FORWARD-TSN can cover all of it. */
  private assign(m: OutMessage): void {
    const n = Math.max(1, Math.ceil(m.data.length / MAX_FRAGMENT));
    for (let i = 0; i < n; i++) {
      let flags = m.unordered ? F_UNORDERED : 0;
      if (i === 0) flags |= F_BEGIN;
      if (i === n - 1) flags |= F_END;
      const c: OutChunk = {
        msg: m,
        tsn: this.nextTsn,
        flags,
        data: m.data.subarray(i * MAX_FRAGMENT, (i + 1) * MAX_FRAGMENT),
        sent: 0,
        sentAt: 0,
        acked: false,
        inFlight: false,
        rtx: false,
        missing: 0,
        fastRetransmitted: false,
      };
      this.nextTsn = add32(this.nextTsn, 1);
      m.chunks.push(c);
      this.inflight.push(c);
    }
  }

  private sendData(now: number): void {
    let last: Buffer | undefined;
    const transmit = (c: OutChunk) => {
      last = this.dataChunk(c);
      this.addChunk(last);
      c.sent++;
      c.sentAt = now;
      c.inFlight = true;
      this.flightBytes += c.data.length;
    };
    if (this.rtxPending > 0) {
      let bypass = this.fastRtxBypass ? MTU : 0; // fast retransmit: one packet regardless of cwnd
      for (let i = 0; i < this.inflight.length && this.rtxPending > 0; i++) {
        const c = this.inflight.at(i);
        if (!c.rtx) continue;
        if (this.flightBytes >= this.cwnd) {
          if (bypass <= 0) break;
          bypass -= c.data.length;
        }
        c.rtx = false;
        this.rtxPending--;
        transmit(c);
      }
    }
    if (this.flightBytes === 0 && this.lastDataSentAt > 0 && now - this.lastDataSentAt > this.rto) {
      this.cwnd = Math.min(this.cwnd, Math.max(this.cwnd / 2, 4 * MTU)); // §7.2.1: idle
    }
    for (;;) {
      if (this.flightBytes >= this.cwnd) break;
      const c = this.nextUnsent();
      if (!c) {
        const m = this.pending.shift();
        if (!m) break;
        this.assign(m);
        continue;
      }
      if (this.peerRwnd < c.data.length && this.flightBytes > 0) break;
      transmit(c);
      this.peerRwnd = Math.max(0, this.peerRwnd - c.data.length);
      this.nextToSend = add32(c.tsn, 1);
    }
    this.fastRtxBypass = false;
    if (last) {
      // more is waiting on the window: ask for the SACK now (RFC 7053) rather than after a delay
      if (this.rtxPending > 0 || this.hasUnsent()) last[1] |= F_IMMEDIATE;
      this.lastDataSentAt = now;
      if (this.t3 === 0) this.t3 = now + this.rto;
    }
  }

  private dataChunk(c: OutChunk): Buffer {
    const b = Buffer.alloc(DATA_HEADER + c.data.length);
    b[0] = CT_DATA;
    b[1] = c.flags;
    b.writeUInt16BE(b.length, 2);
    b.writeUInt32BE(c.tsn, 4);
    b.writeUInt16BE(c.msg.stream, 8);
    b.writeUInt16BE(c.msg.ssn, 10);
    b.writeUInt32BE(c.msg.ppid, 12);
    c.data.copy(b, DATA_HEADER);
    return b;
  }

  private sackChunk(): Buffer {
    const gaps: number[] = [];
    if (this.received.size > 0) {
      const offsets = Array.from(this.received, (t) => (t - this.cumTsn) >>> 0).sort((a, b) => a - b);
      let start = offsets[0];
      let end = offsets[0];
      for (let i = 1; i <= offsets.length && gaps.length < 2 * MAX_GAP_BLOCKS; i++) {
        if (i < offsets.length && offsets[i] === end + 1) {
          end = offsets[i];
          continue;
        }
        gaps.push(start, end);
        if (i < offsets.length) {
          start = offsets[i];
          end = offsets[i];
        }
      }
    }
    const dups = this.duplicates;
    this.duplicates = [];
    const v = Buffer.alloc(12 + 2 * gaps.length + 4 * dups.length);
    v.writeUInt32BE(this.cumTsn, 0);
    v.writeUInt32BE(Math.max(0, RWND - this.bufferedBytes), 4);
    v.writeUInt16BE(gaps.length / 2, 8);
    v.writeUInt16BE(dups.length, 10);
    let off = 12;
    for (const g of gaps) {
      v.writeUInt16BE(g, off);
      off += 2;
    }
    for (const d of dups) {
      v.writeUInt32BE(d, off);
      off += 4;
    }
    return makeChunk(CT_SACK, 0, v);
  }

  private forwardTsnChunk(): Buffer {
    const streams = new Map<number, number>();
    const n = (this.advancedPeerAck - this.lastCumAck) >>> 0;
    for (let i = 0; i < n && i < this.inflight.length; i++) {
      const m = this.inflight.at(i).msg;
      if (!m.abandoned || m.unordered) continue;
      const prev = streams.get(m.stream);
      if (prev === undefined || lt16(prev, m.ssn)) streams.set(m.stream, m.ssn);
    }
    const pairs = [...streams].slice(0, (MTU - HEADER - 8) / 4);
    const v = Buffer.alloc(4 + 4 * pairs.length);
    v.writeUInt32BE(this.advancedPeerAck, 0);
    pairs.forEach(([stream, ssn], i) => {
      v.writeUInt16BE(stream, 4 + 4 * i);
      v.writeUInt16BE(ssn, 6 + 4 * i);
    });
    return makeChunk(CT_FORWARD_TSN, 0, v);
  }

  private shutdownChunk(): Buffer {
    const v = Buffer.alloc(4);
    v.writeUInt32BE(this.cumTsn, 0);
    return makeChunk(CT_SHUTDOWN, 0, v);
  }

  private addChunk(c: Buffer): void {
    const padded = (c.length + 3) & ~3;
    if (this.outChunks.length > 0 && this.outSize + padded > MTU) this.emitPacket();
    this.outChunks.push(c);
    this.outSize += padded;
  }

  private emitPacket(): void {
    if (this.outChunks.length === 0) return;
    const chunks = this.outChunks;
    this.outChunks = [];
    this.outSize = HEADER;
    this.outbox.push(this.buildPacket(this.peerTag, chunks));
  }

  private buildPacket(vtag: number, chunks: Buffer[]): Buffer {
    let size = HEADER;
    for (const c of chunks) size += (c.length + 3) & ~3;
    const p = Buffer.alloc(size);
    p.writeUInt16BE(PORT, 0);
    p.writeUInt16BE(PORT, 2);
    p.writeUInt32BE(vtag, 4);
    let off = HEADER;
    for (const c of chunks) {
      c.copy(p, off);
      off += (c.length + 3) & ~3;
    }
    p.writeUInt32LE(packetChecksum(p), 8);
    return p;
  }

  private drainOutbox(): void {
    while (this.outbox.length > 0) {
      const batch = this.outbox;
      this.outbox = [];
      for (const p of batch) {
        try {
          this.sendFn(p);
        } catch {
          // the transport went away: the timers (or close) deal with it
        }
      }
    }
  }

  // ---- timers --------------------------------------------------------------------------------

  private arm(): void {
    if (this.st === 'closed') return;
    let next = Number.POSITIVE_INFINITY;
    for (const t of [this.t1, this.t2, this.t3, this.tSack, this.tHeartbeat, this.tReconfig]) {
      if (t !== 0 && t < next) next = t;
    }
    if (next === Number.POSITIVE_INFINITY) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer && this.timerAt <= next) return; // fires early and re-arms
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(next - performance.now())));
    this.timer.unref();
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    if (this.st === 'closed') return;
    const now = performance.now();
    const due = (t: number) => t !== 0 && t <= now + 1;
    try {
      if (due(this.t1)) {
        this.t1 = 0;
        this.onT1(now);
      }
      if (due(this.t3)) {
        this.t3 = 0;
        this.onT3(now);
      }
      if (due(this.t2)) {
        this.t2 = 0;
        this.onT2(now);
      }
      if (due(this.tReconfig)) {
        this.tReconfig = 0;
        this.onReconfigTimer(now);
      }
      if (due(this.tSack)) {
        this.tSack = 0;
        this.sackNeeded = true;
      }
      if (due(this.tHeartbeat)) {
        this.tHeartbeat = 0;
        this.onHeartbeatTimer(now);
      }
    } catch {
      // never out of a timer
    }
    if ((this.st as AssociationState) === 'closed') {
      this.drainOutbox();
      return;
    }
    this.flush();
  };

  private onT1(now: number): void {
    if ((this.st !== 'cookie-wait' && this.st !== 'cookie-echoed') || !this.t1Packet) return;
    if (++this.initRetransmits > MAX_INIT_RETRANSMITS) {
      this.finish();
      return;
    }
    this.t1Rto = Math.min(this.t1Rto * 2, RTO_MAX);
    this.outbox.push(this.t1Packet);
    this.t1 = now + this.t1Rto;
  }

  private onT3(now: number): void {
    if (!this.canSendData() && this.st !== 'shutdown-sent') return;
    if (++this.errorCount > MAX_ASSOCIATION_RETRANSMITS) {
      this.abort();
      return;
    }
    this.rto = Math.min(this.rto * 2, RTO_MAX);
    this.ssthresh = Math.max(this.cwnd / 2, 4 * MTU);
    this.cwnd = MTU;
    this.partialBytesAcked = 0;
    this.inFastRecovery = false;
    for (let i = 0; i < this.inflight.length; i++) {
      const c = this.inflight.at(i);
      if (c.sent === 0 || c.acked || c.msg.abandoned) continue;
      if (this.shouldAbandon(c, now)) this.abandon(c.msg);
      else this.markRetransmit(c);
    }
    this.advancePeerAckPoint();
    if (lt32(this.lastCumAck, this.advancedPeerAck)) this.forwardTsnNeeded = true;
    if (this.rtxPending > 0 || this.forwardTsnNeeded) this.t3 = now + this.rto;
  }

  private onT2(now: number): void {
    if (++this.errorCount > MAX_ASSOCIATION_RETRANSMITS) {
      this.abort();
      return;
    }
    this.rto = Math.min(this.rto * 2, RTO_MAX);
    if (this.st === 'shutdown-sent') this.addChunk(this.shutdownChunk());
    else if (this.st === 'shutdown-ack-sent') this.addChunk(makeChunk(CT_SHUTDOWN_ACK, 0));
    else return;
    this.t2 = now + this.rto;
  }

  private onReconfigTimer(now: number): void {
    const r = this.outReset;
    if (!r || !this.acceptsData()) return;
    if (++r.tries > MAX_ASSOCIATION_RETRANSMITS) {
      this.outReset = undefined;
      this.resetDone(r.streams, false);
      return;
    }
    this.addChunk(this.resetRequestChunk());
    this.tReconfig = now + this.rto;
  }

  private onHeartbeatTimer(now: number): void {
    if (this.st !== 'established') return;
    const due = this.lastRecvAt + this.heartbeatMs;
    if (!this.heartbeatOutstanding && due > now + 1) {
      this.tHeartbeat = due;
      return;
    }
    if (this.heartbeatOutstanding && ++this.errorCount > MAX_ASSOCIATION_RETRANSMITS) {
      this.abort();
      return;
    }
    this.heartbeatNonce = randomU32();
    const info = Buffer.alloc(12);
    info.writeDoubleBE(now, 0);
    info.writeUInt32BE(this.heartbeatNonce, 8);
    this.addChunk(makeChunk(CT_HEARTBEAT, 0, makeParam(P_HEARTBEAT_INFO, info, true)));
    this.heartbeatOutstanding = true;
    this.tHeartbeat = now + this.heartbeatMs + this.rto;
  }

  // ---- the end -------------------------------------------------------------------------------

  private abort(): void {
    if (this.hasPeer()) {
      this.outChunks = [];
      this.outSize = HEADER;
      this.outbox.push(this.buildPacket(this.peerTag, [makeChunk(CT_ABORT, 0)]));
    }
    this.finish();
  }

  private finish(): void {
    if (this.st === 'closed') return;
    this.emitPacket();
    this.st = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.t1 = 0;
    this.t2 = 0;
    this.t3 = 0;
    this.tSack = 0;
    this.tHeartbeat = 0;
    this.tReconfig = 0;
    const channels = [...this.channels.values()];
    this.channels.clear();
    this.pending.clear();
    this.inflight.clear();
    this.reassembly.clear();
    this.inStreams.clear();
    this.received.clear();
    this.resetQueue.clear();
    this.outReset = undefined;
    this.t1Packet = undefined;
    this.queuedBytes = 0;
    this.flightBytes = 0;
    this.rtxPending = 0;
    for (const ch of channels) {
      ch.closing = true;
      this.safe(() => ch.emitClosed());
    }
    this.announce('closed');
  }

  private announce(s: SctpState): void {
    if (this.announced === s) return;
    this.announced = s;
    this.safe(() => this.onStateChange?.(s));
  }

  private safe(fn: () => void): void {
    try {
      fn();
    } catch {
      this.callbackErrors++;
    }
  }
}
