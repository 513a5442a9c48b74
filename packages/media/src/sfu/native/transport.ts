/**
 * One WebRTC peer connection on the node's own media transport: ICE-lite on the shared socket,
 * DTLS-SRTP and batched sends in the native addon, SCTP data channels in TypeScript. Same surface
 * as the node-datachannel transport (see ../transport.ts), so the participant code does not know
 * which one it holds.
 *
 * A client mode (`{ controlling: true }`, for load-test bots) turns it around: it offers, checks
 * the answer's candidates as the controlling ICE agent and nominates the first that answers.
 */
import { createHash, randomBytes, randomInt, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { closeQuietly } from '../../util/errors.ts';
import { newSsrc } from '../../util/ids.ts';
import { logger } from '../../util/log.ts';
import { isRtcp } from '../rtp.ts';
import {
  iceCredentials,
  isRejected,
  type MediaSection,
  OPUS_PT,
  opusPayloadType,
  parseSdp,
  rewriteLocal,
  SdpError,
  type SectionPlan,
  ssrcs,
  writeSdp,
} from '../sdp.ts';
import type {
  CandidateInit,
  DataChannelLike,
  MediaTrack,
  Retransmitter,
  Transport,
  TransportConfig,
} from '../transport.ts';
import { ReceiveStats, readRtcp, receiverReport } from './rtcp.ts';
import { SctpEndpoint } from './sctp.ts';
import { type Addon, type IceEndpoint, type MediaSocket, NativeEvent } from './socket.ts';
import { type BindingSuccess, bindingRequest } from './stun.ts';

const log = logger('native-transport');
const RECEIVER_REPORT_MS = 1000;
const ICE_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/';
const MAX_MESSAGE_SIZE = 256 * 1024;
// client mode: connectivity checks, then consent freshness (RFC 7675)
const CHECK_INTERVAL_MS = 50;
const CHECK_TIMEOUT_MS = 10_000;
const CONSENT_INTERVAL_MS = 5000;
const CONSENT_TIMEOUT_MS = 30_000;
const MAX_REMOTE_CANDIDATES = 8;
/** PRIORITY of our checks: a peer-reflexive candidate's (type preference 110), component 1. */
const CHECK_PRIORITY = 110 * 2 ** 24 + 65535 * 2 ** 8 + 255;

/** How a NativePeerTransport is used. */
export interface NativeTransportOptions {
  /**
   * Client mode: we offer and are the controlling ICE agent (checks with aggressive nomination,
   * then consent checks); the DTLS role follows the answer's a=setup. Default: the node's side.
   */
  controlling?: boolean;
  /** Client mode: give up ('failed') when no check is answered in this long (default 10 s). */
  checkTimeoutMs?: number;
  /** Client mode: consent checks about this far apart (default 5 s)... */
  consentIntervalMs?: number;
  /**
   * ...and consent is lost after this long without (default 30 s, RFC 7675): a client goes
   * 'failed'; the node's side stops sending to the peer's address until it checks again.
   */
  consentTimeoutMs?: number;
}

interface Address {
  address: string;
  port: number;
}

interface LocalSection {
  mid: string;
  kind: string;
  rejected: boolean;
  /** Codec, feedback and extension lines (before rewriteLocal applies the plan). */
  lines: string[];
  /** An offer we made and the answer has not covered yet. */
  pending: boolean;
  /** Client mode: a receive-only section (NACK offered when `nack`). */
  recv?: { nack: boolean };
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
  private readonly rtcpSsrc = newSsrc();
  private reportTimer: ReturnType<typeof setInterval> | undefined;
  lastCheckAt = 0;
  /** When the bound address last sent a valid check (the node's side of RFC 7675). */
  private consentAt = 0;
  // client mode only
  readonly controlling: boolean;
  remotePwd: string | undefined;
  private remoteUfrag: string | undefined;
  private readonly remoteCandidates: Address[] = [];
  private readonly tieBreaker = randomBytes(8).readBigUInt64BE(0);
  private iceTimer: ReturnType<typeof setTimeout> | undefined;
  private checksStartedAt = 0;
  private lastAnswerAt = 0;
  private selected: Address | undefined;
  private readonly checkTimeoutMs: number;
  private readonly consentIntervalMs: number;
  private readonly consentTimeoutMs: number;

  constructor(
    readonly name: string,
    private readonly cfg: TransportConfig,
    opts: NativeTransportOptions = {},
  ) {
    if (!cfg.native) throw new Error('NativePeerTransport needs the node media socket');
    this.socket = cfg.native.socket;
    this.fingerprint = cfg.native.fingerprint;
    this.controlling = opts.controlling ?? false;
    this.checkTimeoutMs = opts.checkTimeoutMs ?? CHECK_TIMEOUT_MS;
    this.consentIntervalMs = opts.consentIntervalMs ?? CONSENT_INTERVAL_MS;
    this.consentTimeoutMs = opts.consentTimeoutMs ?? CONSENT_TIMEOUT_MS;
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

  /** Client mode: a receive-only Opus section for the next offer (with NACK unless told not to). */
  addRecvSection(mid: string, opts: { nack?: boolean } = {}): NativeTrack {
    this.assertOpen();
    if (!this.controlling) throw new SdpError('receive-only sections are for the client mode');
    const s = this.sectionFor(mid, 'audio');
    s.lines = [`a=rtpmap:${OPUS_PT} opus/48000/2`, `a=fmtp:${OPUS_PT} minptime=10;useinbandfec=1`];
    s.recv = { nack: opts.nack ?? true };
    s.pending = true;
    const track = new NativeTrack(this, mid);
    track.receiving = true;
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
    return this.describe('offer', this.controlling ? this.clientPlan(plan) : plan);
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
      if (track && local.recv) this.mapSources(track, local.rejected ? [] : ssrcs(m));
    }
    if (this.controlling) this.readRemoteIce(answer);
    this.ensurePeer();
    this.maybeStartSctp();
    if (this.controlling) this.startChecks();
  }

  addCandidate(c: CandidateInit): void {
    // ICE-lite: the peer's checks tell us its address; its candidates are not needed
    if (!this.controlling || this.closed) return;
    // "candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ..."
    const parts = c.candidate.replace(/^a=/, '').split(' ');
    if (parts.length < 8 || parts[1] !== '1' || parts[2].toLowerCase() !== 'udp') return;
    const port = Number(parts[5]);
    if (!Number.isInteger(port) || port < 1 || port > 0xffff) return;
    this.addRemoteCandidate(parts[4], port);
  }

  // ---- media -------------------------------------------------------------------------------

  receiveWithRtcp(track: MediaTrack): void {
    (track as NativeTrack).receiveStats = new Map();
    // a client answers each sender report instead, as libdatachannel's receiving session does
    if (this.reportTimer || this.controlling) return;
    this.reportTimer = setInterval(() => this.sendReceiverReports(), RECEIVER_REPORT_MS);
    this.reportTimer.unref?.();
  }

  retransmitOnNack(track: MediaTrack, down: Retransmitter): void {
    (track as NativeTrack).nack = down;
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
    clearTimeout(this.iceTimer);
    closeQuietly(() => this.sctp?.close());
    for (const dc of this.channels.values()) closeQuietly(() => dc.close());
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
    if (this.controlling) {
      // a full ICE peer's check: its source is a (peer-reflexive) candidate worth checking
      if (!this.selected) this.addRemoteCandidate(address, port);
      return;
    }
    if (this.currentState === 'new') this.setState('connecting');
    const key = `${address}|${port}`;
    if (key === this.boundTo) {
      this.consentAt = this.lastCheckAt;
      return;
    }
    if (!this.peer) {
      this.pendingAddress = { address, port };
      return;
    }
    // the first working address until the controlling side nominates one
    if (this.boundTo && !useCandidate) return;
    if (!this.socket.addon.peerBind(this.peer, address, port)) return;
    this.boundTo = key;
    this.consentAt = this.lastCheckAt;
    if (this.currentState === 'disconnected' && this.connected) this.setState('connected');
  }

  /**
   * The node's side of consent freshness (RFC 7675): when the bound address has sent no valid
   * check for the consent timeout (30 s; browsers and libjuice check every ~5 s), nothing more
   * goes to it — a peer that left, or an address that changed hands, stops receiving media. A
   * later check binds again.
   */
  consentSweep(now: number): void {
    if (this.controlling || !this.boundTo || !this.peer || this.closed) return;
    if (now - this.consentAt <= this.consentTimeoutMs) return;
    this.socket.addon.peerUnbind(this.peer);
    this.boundTo = '';
    log.debug('consent expired: media to the peer stopped', { pc: this.name });
    if (this.currentState === 'connected') this.setState('disconnected');
  }

  /** Client mode: an answer to one of our checks. The first one picks the address (and starts DTLS). */
  iceSuccess(address: string, port: number, _answer: BindingSuccess): void {
    if (this.closed || !this.controlling) return;
    this.lastAnswerAt = performance.now();
    if (this.selected || !this.peer) return;
    this.selected = { address, port };
    clearTimeout(this.iceTimer);
    if (this.socket.addon.peerBind(this.peer, address, port)) this.boundTo = `${address}|${port}`;
    this.scheduleConsent();
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
    let senderReport = false;
    readRtcp(rtcp, {
      senderReport: (ssrc, ntp) => {
        senderReport = true;
        this.bySsrc.get(ssrc)?.receiveStats?.get(ssrc)?.senderReport(ntp, now);
      },
      nack: (mediaSsrc, seqs) => {
        for (const t of this.tracks.values()) if (t.nack?.ssrc === mediaSsrc) t.nack.retransmit(seqs);
      },
    });
    if (senderReport && this.controlling) this.sendReceiverReports();
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

  // ---- client mode: ICE as the controlling agent -----------------------------------------------

  /** The answer's SSRCs for one of our receive sections (a slot the node reassigned changes them). */
  private mapSources(track: NativeTrack, sources: number[]): void {
    for (const ssrc of track.ssrcs) if (this.bySsrc.get(ssrc) === track) this.bySsrc.delete(ssrc);
    track.ssrcs.clear();
    for (const ssrc of sources) {
      track.ssrcs.add(ssrc);
      this.bySsrc.set(ssrc, track);
    }
  }

  /** The remote ICE credentials (the first answer's: no ICE restarts) and its candidates. */
  private readRemoteIce(sdp: string): void {
    const creds = iceCredentials(sdp);
    if (creds && this.remoteUfrag === undefined) {
      this.remoteUfrag = creds.ufrag;
      this.remotePwd = creds.pwd;
    }
    const lines = sdp.match(/^a=candidate:[^\r\n]+/gm) ?? [];
    for (const line of lines.slice(0, MAX_REMOTE_CANDIDATES)) this.addCandidate({ candidate: line });
  }

  private addRemoteCandidate(address: string, port: number): void {
    // our socket's family only (the addon cannot send IPv6 from an IPv4 socket)
    if (isIP(address) !== (this.socket.host.includes(':') ? 6 : 4)) return;
    if (this.remoteCandidates.length >= MAX_REMOTE_CANDIDATES) return;
    if (this.remoteCandidates.some((c) => c.address === address && c.port === port)) return;
    this.remoteCandidates.push({ address, port });
  }

  private startChecks(): void {
    if (this.checksStartedAt || this.closed) return;
    this.checksStartedAt = performance.now();
    if (this.currentState === 'new') this.setState('connecting');
    this.checkTick();
  }

  /** Every 50 ms until one answers or the time is up: a check, nominating, to every candidate. */
  private readonly checkTick = (): void => {
    this.iceTimer = undefined;
    if (this.closed || this.selected) return;
    if (performance.now() - this.checksStartedAt > this.checkTimeoutMs) {
      log.debug('no candidate answered', { pc: this.name, candidates: this.remoteCandidates.length });
      this.setState('failed');
      return;
    }
    for (const c of this.remoteCandidates) this.sendCheck(c, true);
    this.iceTimer = setTimeout(this.checkTick, CHECK_INTERVAL_MS);
    this.iceTimer.unref();
  };

  /** The next consent check in 0.8–1.2 intervals, at random (RFC 7675 §5.1). */
  private scheduleConsent(): void {
    this.iceTimer = setTimeout(this.consentTick, this.consentIntervalMs * (0.8 + 0.4 * Math.random()));
    this.iceTimer.unref();
  }

  private readonly consentTick = (): void => {
    this.iceTimer = undefined;
    const selected = this.selected;
    if (this.closed || !selected || this.currentState === 'failed' || this.currentState === 'closed') return;
    if (performance.now() - this.lastAnswerAt > this.consentTimeoutMs) {
      log.debug('consent lost', { pc: this.name });
      this.setState('failed');
      return;
    }
    this.sendCheck(selected, false);
    this.scheduleConsent();
  };

  private sendCheck(to: Address, nominate: boolean): void {
    if (this.remoteUfrag === undefined || this.remotePwd === undefined) return;
    const request = bindingRequest(
      randomBytes(12),
      `${this.remoteUfrag}:${this.localUfrag}`,
      this.remotePwd,
      {
        priority: CHECK_PRIORITY,
        controlling: this.tieBreaker,
        useCandidate: nominate,
      },
    );
    this.socket.sendCheck(this, to.address, to.port, request);
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
      ...(this.controlling ? [] : ['a=ice-lite']),
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
    const sdp = rewriteLocal(`${lines.join('\r\n')}\r\n`, plan, { nack: true, hardened: this.cfg.hardened });
    return this.controlling ? this.withReceiveNack(sdp) : sdp;
  }

  /** Client mode: our receive sections are receive-only, whatever the caller's plan says. */
  private clientPlan(plan: (mid: string) => SectionPlan): (mid: string) => SectionPlan {
    return (mid) => (this.sections.find((s) => s.mid === mid)?.recv ? { role: 'receive' } : plan(mid));
  }

  /** Client mode: NACK on our receive sections (rewriteLocal keeps it only where we send). */
  private withReceiveNack(sdp: string): string {
    const parsed = parseSdp(sdp);
    for (const m of parsed.media) {
      const pt = this.sections.find((s) => s.mid === m.mid)?.recv?.nack ? opusPayloadType(m) : undefined;
      if (pt === undefined || isRejected(m)) continue;
      const at = m.lines.findIndex((l) => l.startsWith(`a=fmtp:${pt} `) || l.startsWith(`a=rtpmap:${pt} `));
      m.lines.splice(at === -1 ? m.lines.length : at + 1, 0, `a=rtcp-fb:${pt} nack`);
    }
    return writeSdp(parsed);
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
  /** What answers the receiver's NACKs for the SSRC we send (the DownTrack, from its source's history). */
  nack: Retransmitter | undefined;
  private handler: ((msg: Buffer) => void) | undefined;
  private openHandlers: (() => void)[] = [];
  private isNegotiated = false;
  private closed = false;

  private readonly addon: Addon;

  constructor(
    private readonly t: NativePeerTransport,
    private readonly sectionMid: string,
  ) {
    this.addon = t.addon;
  }

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
    return isRtcp(buf) ? this.addon.sendRtcp(peer, buf) : this.addon.sendRtp(peer, buf);
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
