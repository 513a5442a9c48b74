/**
 * One WebRTC peer connection to a participant, on node-datachannel with every peer sharing one
 * UDP port (ICE UDP mux). It knows SDP, candidates, tracks by mid and data channels by label —
 * nothing about rooms.
 */

import { isIP } from 'node:net';
import type { DataChannel, PeerConnection, Track } from 'node-datachannel';
import ndc from 'node-datachannel';
import { closeQuietly } from '../util/errors.ts';
import { logger } from '../util/log.ts';
import type { MediaSocket } from './native/socket.ts';
import { NativePeerTransport } from './native/transport.ts';
import {
  type IceCredentials,
  iceCredentials,
  rewriteCandidateAddress,
  rewriteLocal,
  SdpError,
  type SectionPlan,
  withIceCredentials,
} from './sdp.ts';

const log = logger('transport');
const NACK_BUFFER_PACKETS = 100;

export interface TransportConfig {
  udpPort: number;
  bindAddress: string;
  /** Address to advertise in candidates instead of the bound one (1:1 NAT / public IP). */
  publicAddress?: string;
  /** The node's shared DTLS certificate (PEM files); absent: one is generated per connection. */
  dtls?: { certificatePemFile: string; keyPemFile: string };
  /**
   * Hardened (a room option of the app, carried in the token): no audio-level header extension
   * and Opus CBR without DTX, so packet sizes and headers leak no speech activity.
   */
  hardened?: boolean;
  /** The node's own media socket: when set, peers use NativePeerTransport. */
  native?: { socket: MediaSocket; fingerprint: string };
}

/** One audio section's media, as the participant code uses it (a node-datachannel Track fits). */
export interface MediaTrack {
  mid(): string;
  isOpen(): boolean;
  onOpen(cb: () => void): void;
  onMessage(cb: (msg: Buffer) => void): void;
  sendMessageBinary(buf: Buffer): boolean;
  close(): void;
}

/** What answers a subscriber's NACKs for the SSRC it receives (a DownTrack). */
export interface Retransmitter {
  readonly ssrc: number;
  retransmit(seqs: number[]): number;
}

/** A data channel, as the participant code uses it (a node-datachannel DataChannel fits). */
export interface DataChannelLike {
  getLabel(): string;
  sendMessageBinary(buf: Buffer | Uint8Array): boolean;
  onMessage(cb: (msg: string | Buffer | ArrayBuffer) => void): void;
  onOpen?(cb: () => void): void;
  onClosed?(cb: () => void): void;
  isOpen(): boolean;
  close(): void;
}

/**
 * One WebRTC peer connection to a participant. Two implementations: PeerTransport below
 * (node-datachannel) and NativePeerTransport (native/transport.ts: the node's own socket,
 * DTLS-SRTP and batched sends), chosen per node by createTransport.
 */
export interface Transport {
  readonly tracks: Map<string, MediaTrack>;
  readonly channels: Map<string, DataChannelLike>;
  onCandidate?: (c: CandidateInit) => void;
  onTrack?: (mid: string, track: MediaTrack) => void;
  onChannel?: (label: string, dc: DataChannelLike) => void;
  onState?: (state: string) => void;
  readonly state: string;
  answer(offer: string, plan: (mid: string) => SectionPlan): string;
  addSendSection(mid: string, payloadType: number): MediaTrack;
  offer(plan: (mid: string) => SectionPlan): string;
  applyAnswer(answer: string): void;
  addCandidate(c: CandidateInit): void;
  /** RTCP for a track we receive: receiver reports back to the publisher. */
  receiveWithRtcp(track: MediaTrack): void;
  /**
   * RTCP for a track we send, when the receiver negotiated NACK: retransmission of what `down`
   * sent (the native transport asks `down`, which answers from its source's history).
   */
  retransmitOnNack(track: MediaTrack, down: Retransmitter): void;
  createChannel(label: string, reliable: boolean): DataChannelLike;
  close(): void;
}

/** The node's transport for one peer connection: its own media socket when it has one. */
export function createTransport(name: string, cfg: TransportConfig): Transport {
  return cfg.native ? new NativePeerTransport(name, cfg) : new PeerTransport(name, cfg);
}

export interface CandidateInit {
  candidate: string;
  sdpMid?: string;
  sdpMLineIndex?: number;
}

export class PeerTransport implements Transport {
  readonly pc: PeerConnection;
  /** Every Track by mid. Holding them keeps node-datachannel delivering (see FACTS). */
  readonly tracks = new Map<string, Track>();
  readonly channels = new Map<string, DataChannel>();
  onCandidate?: (c: CandidateInit) => void;
  onTrack?: (mid: string, track: MediaTrack) => void;
  onChannel?: (label: string, dc: DataChannelLike) => void;
  onState?: (state: string) => void;
  private pendingCandidates: CandidateInit[] = [];
  private remoteIce?: IceCredentials;
  private lastOfferedUfrag?: string;
  private closed = false;

  constructor(
    name: string,
    private readonly cfg: TransportConfig,
  ) {
    this.pc = new ndc.PeerConnection(name, {
      iceServers: [],
      enableIceUdpMux: true,
      portRangeBegin: cfg.udpPort,
      portRangeEnd: cfg.udpPort,
      bindAddress: cfg.bindAddress,
      disableAutoNegotiation: true,
      forceMediaTransport: true, // media sections may be added after a data-only start (dual-PC)
      maxMessageSize: 256 * 1024,
      certificatePemFile: cfg.dtls?.certificatePemFile,
      keyPemFile: cfg.dtls?.keyPemFile,
    });
    this.pc.onLocalCandidate((candidate, mid) => {
      let c = candidate.startsWith('a=') ? candidate.slice(2) : candidate;
      if (cfg.publicAddress) c = rewriteCandidateAddress(c, cfg.publicAddress);
      this.onCandidate?.({ candidate: c, sdpMid: mid, sdpMLineIndex: 0 });
    });
    this.pc.onTrack((track) => {
      keepsNoProcessAlive(track);
      this.tracks.set(track.mid(), track);
      this.onTrack?.(track.mid(), track);
    });
    this.pc.onDataChannel((dc) => this.adoptChannel(dc));
    this.pc.onStateChange((s) => this.onState?.(s));
  }

  get state(): string {
    return this.closed ? 'closed' : this.pc.state();
  }

  /** Answerer: applies the remote offer and returns our (rewritten) answer. */
  answer(offer: string, plan: (mid: string) => SectionPlan): string {
    this.assertOpen();
    remote(() => this.pc.setRemoteDescription(this.reachableOnly(this.keepIceSession(offer)), 'offer'));
    this.flushCandidates();
    // A closing connection takes the offer without a word and stays stable; an answer then would
    // throw inside libdatachannel, which node-datachannel does not catch: the process would abort.
    this.assertSignaling('have-remote-offer');
    this.pc.setLocalDescription('answer');
    return this.rewrite(plan, true);
  }

  /** Offerer: a new send-only audio section we may forward a track into (Opus, with NACK). */
  addSendSection(mid: string, payloadType: number): Track {
    const audio = new ndc.Audio(mid, 'SendOnly');
    audio.addOpusCodec(payloadType);
    audio.parseSdpLine(`a=rtcp-fb:${payloadType} nack`);
    const track = this.pc.addTrack(audio);
    keepsNoProcessAlive(track);
    this.tracks.set(mid, track);
    return track;
  }

  /** Offerer: builds an offer covering every section and channel added so far. */
  offer(plan: (mid: string) => SectionPlan): string {
    this.assertOpen();
    this.assertSignaling('stable'); // (see answer: anything else could abort the process)
    this.pc.setLocalDescription('offer');
    return this.rewrite(plan, true);
  }

  applyAnswer(answer: string): void {
    this.assertOpen();
    remote(() => this.pc.setRemoteDescription(this.reachableOnly(answer), 'answer'));
    this.flushCandidates();
  }

  addCandidate(c: CandidateInit): void {
    if (!c.candidate) return; // end-of-candidates
    if (!this.reachable(c.candidate)) return;
    if (this.pc.remoteDescription() === null) {
      this.pendingCandidates.push(c); // arrived before the description (see FACTS)
      return;
    }
    try {
      this.pc.addRemoteCandidate(c.candidate, c.sdpMid ?? '0');
    } catch (err) {
      log.debug('remote candidate refused', { err: String(err) });
    }
  }

  /** RTCP for a track we receive: receiver reports back to the publisher. */
  receiveWithRtcp(track: MediaTrack): void {
    (track as Track).setMediaHandler(new ndc.RtcpReceivingSession());
  }

  /**
   * RTCP for a track we send, when the receiver negotiated NACK: retransmission from a small
   * buffer (~2 s of audio). Sender reports come from DownTrack.reportIfDue (every 5 s on average).
   */
  retransmitOnNack(track: MediaTrack, _down: Retransmitter): void {
    (track as Track).setMediaHandler(new ndc.RtcpNackResponder(NACK_BUFFER_PACKETS));
  }

  createChannel(label: string, reliable: boolean): DataChannel {
    const dc = this.pc.createDataChannel(label, reliable ? {} : { unordered: true, maxRetransmits: 0 });
    this.adoptChannel(dc);
    return dc;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const dc of this.channels.values()) closeQuietly(() => dc.close());
    for (const t of this.tracks.values()) closeQuietly(() => t.close());
    closeQuietly(() => this.pc.close());
    this.tracks.clear();
    this.channels.clear();
  }

  private adoptChannel(dc: DataChannel): void {
    keepsNoProcessAlive(dc);
    const label = dc.getLabel();
    this.channels.set(label, dc);
    this.onChannel?.(label, dc);
  }

  private assertOpen(): void {
    if (this.closed) throw new SdpError('the peer connection is closed');
  }

  private assertSignaling(expected: 'stable' | 'have-remote-offer'): void {
    const state = this.pc.signalingState();
    if (state !== expected)
      throw new SdpError(`the peer connection is ${state}, not ${expected} (closed or closing?)`);
  }

  private rewrite(plan: (mid: string) => SectionPlan, nack: boolean): string {
    // answers keep NACK only where the offer had it (libdatachannel copies the offer's lines)
    const local = this.pc.localDescription();
    if (!local) throw new Error('no local description');
    return rewriteLocal(local.sdp, plan, {
      nack,
      rewriteAddress: this.cfg.publicAddress,
      hardened: this.cfg.hardened,
    });
  }

  /**
   * libdatachannel cannot restart ICE, and livekit-client restarts ICE on every resume. We keep
   * the established session instead: the offer is applied with the credentials we already hold,
   * and our answer repeats ours. The browser keeps using its working candidate pair (its new-
   * generation checks go unanswered), and — what matters — signaling returns to stable, so later
   * negotiations (publishing, new subscriptions) work after a resume.
   */
  private keepIceSession(offer: string): string {
    const creds = iceCredentials(offer);
    if (!creds) return offer;
    if (!this.remoteIce) this.remoteIce = creds;
    if (creds.ufrag === this.remoteIce.ufrag) return offer;
    if (creds.ufrag !== this.lastOfferedUfrag)
      log.debug('ICE restart offered; keeping the established session');
    this.lastOfferedUfrag = creds.ufrag;
    return withIceCredentials(offer, this.remoteIce);
  }

  /**
   * Candidates we could never use are ignored rather than probed: another address family than
   * the one we are bound to, and — for a node bound to loopback — anything but loopback.
   */
  private reachable(candidate: string): boolean {
    const parts = candidate.split(' ');
    const addr = parts[4] ?? '';
    // a candidate of another ICE generation (a restart we did not take) is of no use
    const ufrag = parts.indexOf('ufrag');
    if (ufrag > 0 && this.remoteIce && parts[ufrag + 1] !== this.remoteIce.ufrag) return false;
    const bind = this.cfg.bindAddress;
    if (isIP(bind) !== 0 && isIP(addr) !== 0 && isIP(bind) !== isIP(addr)) return false;
    return !isLoopback(bind) || isLoopback(addr);
  }

  private reachableOnly(sdp: string): string {
    return sdp
      .split('\r\n')
      .filter((l) => !l.startsWith('a=candidate:') || this.reachable(l.slice(2)))
      .join('\r\n');
  }

  private flushCandidates(): void {
    const pending = this.pendingCandidates;
    this.pendingCandidates = [];
    for (const c of pending) this.addCandidate(c);
  }
}

/**
 * node-datachannel keeps the process alive for a closed Track or DataChannel until its close is
 * observed; an onClosed handler lets it go at once (a stopped node then exits promptly).
 */
function keepsNoProcessAlive(x: { onClosed(cb: () => void): void }): void {
  x.onClosed(() => {});
}

/** Applies a remote description; libdatachannel's refusal is the peer's bad input, typed as such. */
function remote(apply: () => void): void {
  try {
    apply();
  } catch (err) {
    throw new SdpError(`remote description refused: ${(err as Error).message}`);
  }
}

function isLoopback(addr: string): boolean {
  return addr.startsWith('127.') || addr === '::1';
}
