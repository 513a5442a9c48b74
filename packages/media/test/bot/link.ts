/**
 * A bot's peer connection, as the bot drives it (it always offers): node-datachannel here, the
 * node's own native transport in client mode in native-link.ts.
 */
import type { Audio, DataChannel, PeerConnection, Track } from 'node-datachannel';
import ndc from 'node-datachannel';
import type { DataChannelLike, MediaTrack } from '../../src/sfu/transport.ts';
import { OPUS_PT } from './rtp.ts';

export interface BotLink {
  /** Connection states as they come ('connected', 'failed', 'closed', ...). */
  onState?: (state: string) => void;
  /** Our candidates (an `a=candidate:` line, or without the `a=`) and their section. */
  onLocalCandidate?: (candidate: string, mid: string) => void;
  readonly state: string;
  /** A new local offer: the whole description, candidates included. */
  offer(): string;
  applyAnswer(sdp: string): void;
  addRemoteCandidate(candidate: string, mid: string): void;
  /** A receive-only Opus section for the next offer; `onMedia` gets what arrives in it. */
  addReceiver(mid: string, onMedia: (msg: Buffer) => void): void;
  /** A send-only Opus section with this SSRC, its msid track id the cid. */
  addSender(mid: string, ssrc: number, cid: string): MediaTrack;
  /** Reliable: ordered with retransmissions; otherwise unordered without any. */
  createChannel(label: string, reliable: boolean): DataChannelLike;
  /** Closes the sections and the connection (the bot closes its channels first). */
  close(): void;
}

export class DatachannelLink implements BotLink {
  onState?: (state: string) => void;
  onLocalCandidate?: (candidate: string, mid: string) => void;
  private readonly pc: PeerConnection;
  /** Every Track by mid: a Track nobody references stops delivering. */
  private readonly tracks = new Map<string, Track>();

  constructor(name: string) {
    this.pc = new ndc.PeerConnection(name, {
      iceServers: [],
      bindAddress: '127.0.0.1',
      disableAutoNegotiation: true,
      forceMediaTransport: true,
    });
    this.pc.onStateChange((state) => this.onState?.(state));
    this.pc.onLocalCandidate((candidate, mid) => this.onLocalCandidate?.(candidate, mid));
  }

  get state(): string {
    return this.pc.state();
  }

  offer(): string {
    this.pc.setLocalDescription('offer');
    const local = this.pc.localDescription();
    if (!local) throw new Error('node-datachannel produced no offer');
    return local.sdp;
  }

  applyAnswer(sdp: string): void {
    this.pc.setRemoteDescription(sdp, 'answer');
  }

  addRemoteCandidate(candidate: string, mid: string): void {
    this.pc.addRemoteCandidate(candidate, mid);
  }

  addReceiver(mid: string, onMedia: (msg: Buffer) => void): void {
    const audio = new ndc.Audio(mid, 'RecvOnly');
    audio.addOpusCodec(OPUS_PT);
    const track = this.adoptTrack(mid, audio);
    track.setMediaHandler(new ndc.RtcpReceivingSession()); // receiver reports, as a browser sends
    track.onMessage(onMedia);
  }

  addSender(mid: string, ssrc: number, cid: string): MediaTrack {
    const audio = new ndc.Audio(mid, 'SendOnly');
    audio.addOpusCodec(OPUS_PT);
    audio.addSSRC(ssrc, 'bot', `bot-${cid}`, cid);
    return this.adoptTrack(mid, audio);
  }

  createChannel(label: string, reliable: boolean): DataChannel {
    return reliable
      ? this.pc.createDataChannel(label)
      : this.pc.createDataChannel(label, { unordered: true, maxRetransmits: 0 });
  }

  close(): void {
    for (const track of this.tracks.values()) track.close();
    this.pc.close();
  }

  private adoptTrack(mid: string, media: Audio): Track {
    const track = this.pc.addTrack(media);
    // node-datachannel holds the event loop open until a Track reports closing to a handler
    track.onClosed(() => {});
    this.tracks.set(mid, track);
    return track;
  }
}
