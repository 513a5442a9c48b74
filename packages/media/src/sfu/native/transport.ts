/**
 * One WebRTC peer connection on the node's own media transport: ICE-lite on the shared socket,
 * DTLS-SRTP and batched sends in the native addon, SCTP data channels in TypeScript. Same surface
 * as the node-datachannel transport (see ../transport.ts), so the participant code does not know
 * which one it holds.
 */
import { createHash, randomBytes, randomInt, X509Certificate } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { logger } from '../../util/log.ts';
import {
  iceCredentials,
  isRejected,
  type MediaSection,
  parseSdp,
  rewriteLocal,
  SdpError,
  type SectionPlan,
  ssrcs,
} from '../sdp.ts';
import type { CandidateInit, DataChannelLike, MediaTrack, Transport, TransportConfig } from '../transport.ts';
import { ReceiveStats, RetransmitBuffer, readRtcp, receiverReport } from './rtcp.ts';
import { SctpEndpoint } from './sctp.ts';
import { type IceEndpoint, type MediaSocket, NativeEvent } from './socket.ts';

const log = logger('native-transport');
const RECEIVER_REPORT_MS = 1000;
const ICE_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/';
const MAX_MESSAGE_SIZE = 256 * 1024;

interface LocalSection {
  mid: string;
  kind: string;
  rejected: boolean;
  /** Codec, feedback and extension lines (before rewriteLocal applies the plan). */
  lines: string[];
  /** An offer we made and the answer has not covered yet. */
  pending: boolean;
}

interface Fingerprint {
  algorithm: string;
  value: string;
}

export class NativePeerTransport implements Transport, IceEndpoint {
  readonly tracks = new Map<string, NativeTrack>();
  readonly channels = new Map<string, DataChannelLike>();
  onCandidate?: (c: CandidateInit) => void;
  onTrack?: (mid: string, track: MediaTrack) => void;
  onChannel?: (label: string, dc: DataChannelLike) => void;
  onState?: (state: string) => void;
  readonly localUfrag = iceString(8);
  readonly localPwd = iceString(24);
  /** The addon's peer (0 until the DTLS role is known). */
  peer = 0;
  private readonly socket: MediaSocket;
  private readonly fingerprint: string;
  private dtlsClient: boolean | undefined;
  private remoteFingerprint: Fingerprint | undefined;
  private pendingAddress: { address: string; port: number } | undefined;
  private boundTo = '';
  private connected = false;
  private closed = false;
  private currentState = 'new';
  private readonly sections: LocalSection[] = [];
  private readonly sessionId = String(randomInt(1, 2 ** 47));
  private sessionVersion = 0;
  private readonly bySsrc = new Map<number, NativeTrack>();
  private sctp: SctpEndpoint | undefined;
  private dataNegotiated = false;
  private readonly deferred: DeferredChannel[] = [];
  private readonly rtcpSsrc = randomBytes(4).readUInt32BE(0);
  private reportTimer: ReturnType<typeof setInterval> | undefined;
  lastCheckAt = 0;

  constructor(
    readonly name: string,
    private readonly cfg: TransportConfig,
  ) {
    if (!cfg.native) throw new Error('NativePeerTransport needs the node media socket');
    this.socket = cfg.native.socket;
    this.fingerprint = cfg.native.fingerprint;
    this.socket.register(this.localUfrag, this);
  }

  get state(): string {
    return this.closed ? 'closed' : this.currentState;
  }

  // ---- negotiation -------------------------------------------------------------------------

  answer(offer: string, plan: (mid: string) => SectionPlan): string {
    this.assertOpen();
    const parsed = parseSdp(offer);
    this.readRemote(offer, parsed.media, 'offer');
    for (const m of parsed.media) {
      const local = this.sectionFor(m.mid, m.kind);
      // video stays in the bundle, inactive, as libdatachannel answered it: a rejected section
      // stops the browser's transceiver, and livekit-client's next offer then fails
      local.rejected = isRejected(m) || !['audio', 'video', 'application'].includes(m.kind);
      local.lines = m.kind === 'audio' ? codecLines(m) : m.kind === 'video' ? firstCodec(m) : [];
      local.pending = false;
      if (m.kind === 'application' && !local.rejected) this.dataNegotiated = true;
      if (m.kind === 'audio' && !local.rejected) this.adoptRemoteAudio(m);
    }
    this.ensurePeer();
    return this.describe('answer', plan);
  }

  addSendSection(mid: string, payloadType: number): MediaTrack {
    const s = this.sectionFor(mid, 'audio');
    s.lines = [
      `a=rtpmap:${payloadType} opus/48000/2`,
      `a=fmtp:${payloadType} minptime=10;useinbandfec=1`,
      `a=rtcp-fb:${payloadType} nack`,
    ];
    s.pending = true;
    const track = new NativeTrack(this, mid);
    this.tracks.set(mid, track);
    return track;
  }

  offer(plan: (mid: string) => SectionPlan): string {
    this.assertOpen();
    if (this.deferred.length > 0 || this.channels.size > 0) {
      const data = this.sections.find((s) => s.kind === 'application');
      if (!data)
        this.sections.unshift({
          mid: 'data',
          kind: 'application',
          rejected: false,
          lines: [],
          pending: true,
        });
    }
    return this.describe('offer', plan);
  }

  applyAnswer(answer: string): void {
    this.assertOpen();
    const parsed = parseSdp(answer);
    this.readRemote(answer, parsed.media, 'answer');
    for (const m of parsed.media) {
      const local = this.sections.find((s) => s.mid === m.mid);
      if (!local) continue;
      local.pending = false;
      local.rejected = isRejected(m);
      if (m.kind === 'application' && !local.rejected) this.dataNegotiated = true;
      const track = this.tracks.get(m.mid);
      if (track && !local.rejected) track.negotiated();
    }
    this.ensurePeer();
    this.maybeStartSctp();
  }

  addCandidate(_c: CandidateInit): void {
    // ICE-lite: the peer's checks tell us its address; its candidates are not needed
  }

  // ---- media -------------------------------------------------------------------------------

  receiveWithRtcp(track: MediaTrack): void {
    (track as NativeTrack).receiveStats = new Map();
    if (this.reportTimer) return;
    this.reportTimer = setInterval(() => this.sendReceiverReports(), RECEIVER_REPORT_MS);
    this.reportTimer.unref?.();
  }

  retransmitOnNack(track: MediaTrack): void {
    (track as NativeTrack).rtx ??= new RetransmitBuffer();
  }

  createChannel(label: string, reliable: boolean): DataChannelLike {
    const dc = new DeferredChannel(label, reliable);
    this.deferred.push(dc);
    if (this.sctp)
      dc.attach(
        this.sctp.createChannel(label, { ordered: reliable, maxRetransmits: reliable ? undefined : 0 }),
      );
    this.adoptChannel(dc);
    return dc;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.reportTimer);
    safe(() => this.sctp?.close());
    for (const dc of this.channels.values()) safe(() => dc.close());
    for (const t of this.tracks.values()) t.close();
    this.socket.release(this.localUfrag, this.peer);
    this.peer = 0;
    this.tracks.clear();
    this.channels.clear();
    this.bySsrc.clear();
  }

  // ---- from the socket ---------------------------------------------------------------------

  iceCheck(address: string, port: number, useCandidate: boolean): void {
    if (this.closed) return;
    this.lastCheckAt = performance.now();
    if (this.currentState === 'new') this.setState('connecting');
    const key = `${address}|${port}`;
    if (key === this.boundTo) return;
    if (!this.peer) {
      this.pendingAddress = { address, port };
      return;
    }
    // the first working address until the controlling side nominates one
    if (this.boundTo && !useCandidate) return;
    if (this.socket.addon.peerBind(this.peer, address, port)) this.boundTo = key;
  }

  nativeEvent(kind: NativeEvent, data: Buffer | undefined, num: number, text: string | undefined): void {
    if (this.closed) return;
    switch (kind) {
      case NativeEvent.Rtp:
        if (data) this.onRtp(data);
        return;
      case NativeEvent.Rtcp:
        if (data) this.onRtcp(data);
        return;
      case NativeEvent.Data:
        if (data) this.sctp?.receive(data);
        return;
      case NativeEvent.Connected:
        if (data) this.onDtlsConnected(data, num);
        return;
      case NativeEvent.Closed:
        log.debug('dtls closed', { pc: this.name, why: text });
        this.connected = false;
        this.setState(this.currentState === 'connected' ? 'closed' : 'failed');
        return;
    }
  }

  // ---- internals ---------------------------------------------------------------------------

  private onDtlsConnected(der: Buffer, profile: number): void {
    const fp = this.remoteFingerprint;
    if (!fp || !fingerprintMatches(der, fp)) {
      log.warn('DTLS certificate does not match the fingerprint in the description', { pc: this.name });
      this.socket.release('', this.peer);
      this.peer = 0;
      this.setState('failed');
      return;
    }
    log.debug('dtls connected', { pc: this.name, profile });
    this.connected = true;
    for (const t of this.tracks.values()) t.transportOpen();
    this.maybeStartSctp();
    this.setState('connected');
  }

  private maybeStartSctp(): void {
    if (this.sctp || !this.connected || !this.dataNegotiated || this.dtlsClient === undefined) return;
    const sctp = new SctpEndpoint({
      isClient: this.dtlsClient,
      maxMessageSize: MAX_MESSAGE_SIZE,
      send: (packet) => {
        if (this.peer) this.socket.addon.sendData(this.peer, packet);
      },
    });
    this.sctp = sctp;
    sctp.onChannel = (dc) => this.adoptChannel(dc);
    for (const dc of this.deferred)
      dc.attach(
        sctp.createChannel(dc.label, { ordered: dc.reliable, maxRetransmits: dc.reliable ? undefined : 0 }),
      );
    sctp.start();
  }

  private onRtp(rtp: Buffer): void {
    if (rtp.length < 12) return;
    const ssrc = rtp.readUInt32BE(8);
    let track = this.bySsrc.get(ssrc);
    if (!track) {
      // a source the description did not list: the only receiving section without one takes it
      const open = [...this.tracks.values()].filter((t) => t.receiving && t.ssrcs.size === 0);
      if (open.length !== 1) return;
      track = open[0];
      track.ssrcs.add(ssrc);
      this.bySsrc.set(ssrc, track);
    }
    track.deliver(rtp, ssrc);
  }

  private onRtcp(rtcp: Buffer): void {
    const now = performance.now();
    readRtcp(rtcp, {
      senderReport: (ssrc, ntp) => this.bySsrc.get(ssrc)?.receiveStats?.get(ssrc)?.senderReport(ntp, now),
      nack: (mediaSsrc, seqs) => {
        for (const t of this.tracks.values()) if (t.sentSsrc === mediaSsrc) t.retransmit(seqs);
      },
    });
  }

  private sendReceiverReports(): void {
    if (!this.peer || !this.connected) return;
    const sources: ReceiveStats[] = [];
    for (const t of this.tracks.values()) if (t.receiveStats) sources.push(...t.receiveStats.values());
    if (sources.length === 0) return;
    this.socket.addon.sendRtcp(this.peer, receiverReport(this.rtcpSsrc, sources, performance.now()));
  }

  private adoptRemoteAudio(m: MediaSection): void {
    let track = this.tracks.get(m.mid);
    if (!track) {
      track = new NativeTrack(this, m.mid);
      this.tracks.set(m.mid, track);
      const created = track;
      // node-datachannel reports tracks from its own thread, after the description is applied;
      // the participant code expects that order
      setImmediate(() => {
        if (!this.closed) this.onTrack?.(m.mid, created);
      });
    }
    track.negotiated();
    track.receiving = true;
    for (const ssrc of ssrcs(m)) {
      track.ssrcs.add(ssrc);
      this.bySsrc.set(ssrc, track);
    }
  }

  private readRemote(sdp: string, media: MediaSection[], type: 'offer' | 'answer'): void {
    if (!iceCredentials(sdp)) throw new SdpError(`the ${type} has no ICE credentials`);
    const fp = /^a=fingerprint:(\S+) ([0-9A-Fa-f:]+)/m.exec(sdp);
    if (!fp) throw new SdpError(`the ${type} has no DTLS fingerprint`);
    if (!this.remoteFingerprint)
      this.remoteFingerprint = { algorithm: fp[1].toLowerCase(), value: fp[2].toUpperCase() };
    const setup = /^a=setup:(\w+)/m.exec(sdp)?.[1] ?? (type === 'offer' ? 'actpass' : 'active');
    if (type === 'answer' && setup === 'actpass') throw new SdpError('an answer cannot say a=setup:actpass');
    // whoever is not passive leaves us the other role; an offer's actpass makes us the server
    this.dtlsClient ??= setup === 'passive';
    if (media.length === 0) throw new SdpError(`the ${type} has no media sections`);
  }

  private sectionFor(mid: string, kind: string): LocalSection {
    let s = this.sections.find((x) => x.mid === mid);
    if (!s) {
      s = { mid, kind, rejected: false, lines: [], pending: false };
      this.sections.push(s);
    }
    return s;
  }

  private ensurePeer(): void {
    if (this.peer || this.dtlsClient === undefined || this.closed) return;
    this.peer = this.socket.createPeer(this, this.dtlsClient);
    const pending = this.pendingAddress;
    this.pendingAddress = undefined;
    if (pending) this.iceCheck(pending.address, pending.port, true);
  }

  private describe(type: 'offer' | 'answer', plan: (mid: string) => SectionPlan): string {
    const setup = type === 'offer' ? 'actpass' : this.dtlsClient ? 'active' : 'passive';
    const candidate = `a=candidate:1 1 udp 2130706431 ${this.advertisedAddress()} ${this.socket.port} typ host`;
    const bundled = this.sections.filter((s) => !s.rejected).map((s) => s.mid);
    const lines = [
      'v=0',
      `o=- ${this.sessionId} ${++this.sessionVersion} IN IP4 0.0.0.0`,
      's=-',
      't=0 0',
      `a=group:BUNDLE ${bundled.join(' ')}`,
      'a=ice-lite',
      'a=msid-semantic: WMS *',
    ];
    for (const s of this.sections) {
      const port = s.rejected ? 0 : 9;
      if (s.kind === 'application') {
        lines.push(
          `m=application ${port} UDP/DTLS/SCTP webrtc-datachannel`,
          'c=IN IP4 0.0.0.0',
          `a=mid:${s.mid}`,
        );
      } else {
        const pts = s.lines.map((l) => /^a=rtpmap:(\d+)/.exec(l)?.[1]).filter((x) => x !== undefined);
        lines.push(
          `m=${s.kind} ${port} UDP/TLS/RTP/SAVPF ${pts.length ? pts.join(' ') : '0'}`,
          'c=IN IP4 0.0.0.0',
          `a=mid:${s.mid}`,
        );
      }
      if (s.rejected) continue;
      lines.push(
        `a=ice-ufrag:${this.localUfrag}`,
        `a=ice-pwd:${this.localPwd}`,
        `a=fingerprint:sha-256 ${this.fingerprint}`,
        `a=setup:${setup}`,
      );
      if (s.kind === 'application') lines.push('a=sctp-port:5000', `a=max-message-size:${MAX_MESSAGE_SIZE}`);
      else lines.push('a=rtcp-mux', ...s.lines);
      lines.push(candidate, 'a=end-of-candidates');
    }
    return rewriteLocal(`${lines.join('\r\n')}\r\n`, plan, { nack: true, hardened: this.cfg.hardened });
  }

  private advertisedAddress(): string {
    if (this.cfg.publicAddress) return this.cfg.publicAddress;
    const bind = this.cfg.bindAddress;
    if (bind !== '0.0.0.0' && bind !== '::') return bind;
    const family = bind === '::' ? 'IPv6' : 'IPv4';
    for (const list of Object.values(networkInterfaces()))
      for (const a of list ?? []) if (!a.internal && a.family === family) return a.address;
    return family === 'IPv6' ? '::1' : '127.0.0.1';
  }

  private adoptChannel(dc: DataChannelLike): void {
    const label = dc.getLabel();
    this.channels.set(label, dc);
    this.onChannel?.(label, dc);
  }

  private setState(state: string): void {
    if (state === this.currentState) return;
    this.currentState = state;
    this.onState?.(state);
  }

  private assertOpen(): void {
    if (this.closed) throw new SdpError('the peer connection is closed');
  }

  get addon() {
    return this.socket.addon;
  }

  get isConnected(): boolean {
    return this.connected;
  }
}

/** One audio section: what the participant code reads from and writes into. */
export class NativeTrack implements MediaTrack {
  receiving = false;
  readonly ssrcs = new Set<number>();
  receiveStats: Map<number, ReceiveStats> | undefined;
  rtx: RetransmitBuffer | undefined;
  sentSsrc = -1;
  private handler: ((msg: Buffer) => void) | undefined;
  private openHandlers: (() => void)[] = [];
  private isNegotiated = false;
  private closed = false;

  constructor(
    private readonly t: NativePeerTransport,
    private readonly sectionMid: string,
  ) {}

  mid(): string {
    return this.sectionMid;
  }

  isOpen(): boolean {
    return !this.closed && this.isNegotiated && this.t.isConnected;
  }

  onOpen(cb: () => void): void {
    this.openHandlers.push(cb);
  }

  onMessage(cb: (msg: Buffer) => void): void {
    this.handler = cb;
  }

  /** The fan-out's out: one call per forwarded packet per subscriber. */
  sendMessageBinary(buf: Buffer): boolean {
    const peer = this.t.peer;
    if (peer === 0 || this.closed) return false;
    const b1 = buf[1];
    if (b1 >= 192 && b1 <= 223) return this.t.addon.sendRtcp(peer, buf);
    if (this.rtx) {
      this.rtx.store(buf);
      this.sentSsrc = buf.readUInt32BE(8);
    }
    return this.t.addon.sendRtp(peer, buf);
  }

  retransmit(seqs: number[]): void {
    const peer = this.t.peer;
    if (!this.rtx || peer === 0) return;
    for (const seq of seqs) {
      const pkt = this.rtx.get(seq);
      if (pkt) this.t.addon.sendRtp(peer, pkt);
    }
  }

  deliver(rtp: Buffer, ssrc: number): void {
    if (this.receiveStats) {
      let s = this.receiveStats.get(ssrc);
      if (!s) {
        s = new ReceiveStats(ssrc);
        this.receiveStats.set(ssrc, s);
      }
      s.packet(rtp.readUInt16BE(2), rtp.readUInt32BE(4), performance.now());
    }
    this.handler?.(rtp);
  }

  negotiated(): void {
    this.isNegotiated = true;
    this.fireOpen();
  }

  transportOpen(): void {
    this.fireOpen();
  }

  close(): void {
    this.closed = true;
    this.openHandlers = [];
  }

  private fireOpen(): void {
    if (!this.isOpen()) return;
    const handlers = this.openHandlers;
    this.openHandlers = [];
    for (const h of handlers) h();
  }
}

/**
 * A channel we open before the SCTP association exists (its stream id depends on the DTLS role,
 * known only once the answer arrives): handlers set now are moved onto the real channel then.
 */
class DeferredChannel implements DataChannelLike {
  private real: DataChannelLike | undefined;
  private messageHandler: ((msg: string | Buffer | ArrayBuffer) => void) | undefined;
  private openHandler: (() => void) | undefined;
  private closedHandler: (() => void) | undefined;
  private closed = false;

  constructor(
    readonly label: string,
    readonly reliable: boolean,
  ) {}

  attach(real: DataChannelLike): void {
    if (this.closed) {
      real.close();
      return;
    }
    this.real = real;
    if (this.messageHandler) real.onMessage(this.messageHandler);
    if (this.openHandler) real.onOpen?.(this.openHandler);
    if (this.closedHandler) real.onClosed?.(this.closedHandler);
  }

  getLabel(): string {
    return this.label;
  }

  sendMessageBinary(buf: Buffer | Uint8Array): boolean {
    return this.real?.sendMessageBinary(buf) ?? false;
  }

  onMessage(cb: (msg: string | Buffer | ArrayBuffer) => void): void {
    this.messageHandler = cb;
    this.real?.onMessage(cb);
  }

  onOpen(cb: () => void): void {
    this.openHandler = cb;
    this.real?.onOpen?.(cb);
  }

  onClosed(cb: () => void): void {
    this.closedHandler = cb;
    this.real?.onClosed?.(cb);
  }

  isOpen(): boolean {
    return this.real?.isOpen() ?? false;
  }

  close(): void {
    this.closed = true;
    this.real?.close();
  }
}

/** Only the codec lines of an offered audio section (rewriteLocal keeps Opus among them). */
function codecLines(m: MediaSection): string[] {
  return m.lines.filter(
    (l) =>
      l.startsWith('a=rtpmap:') ||
      l.startsWith('a=fmtp:') ||
      l.startsWith('a=rtcp-fb:') ||
      l.startsWith('a=extmap:'),
  );
}

/** The first codec of a section we keep inactive (an m-line needs one). */
function firstCodec(m: MediaSection): string[] {
  const pt = m.lines[0].split(' ')[3];
  return m.lines.filter((l) => l.startsWith(`a=rtpmap:${pt} `) || l.startsWith(`a=fmtp:${pt} `));
}

function fingerprintMatches(der: Buffer, fp: Fingerprint): boolean {
  const alg = fp.algorithm.replace('-', '');
  let digest: string;
  try {
    digest = createHash(alg).update(der).digest('hex');
  } catch {
    return false; // a hash we do not know
  }
  return digest.toUpperCase().match(/../g)?.join(':') === fp.value;
}

/** Our certificate's SHA-256 fingerprint as SDP writes it. */
export function sdpFingerprint(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

function iceString(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += ICE_CHARS[b & 63];
  return out;
}

function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // closing twice is harmless
  }
}
