/**
 * A bot's peer connection on the node's own native transport, in client mode: it offers, checks
 * the node's candidate as the controlling ICE agent, and is the DTLS client. Cheap enough that a
 * thousand listeners fit in one process: no threads, one UDP socket each on the libuv loop.
 *
 * One socket per connection, because the addon tells peers apart by their remote address, and
 * every bot talks to the same node address. All sockets in a process share one certificate.
 */
import { createDtlsIdentity } from '../../src/sfu/dtls.ts';
import { type DtlsPem, MediaSocket } from '../../src/sfu/native/socket.ts';
import { NativePeerTransport, sdpFingerprint } from '../../src/sfu/native/transport.ts';
import type { SectionPlan } from '../../src/sfu/sdp.ts';
import type { DataChannelLike, MediaTrack } from '../../src/sfu/transport.ts';
import type { BotLink } from './link.ts';
import { OPUS_PT } from './rtp.ts';

const HOST = '127.0.0.1';

let identity: { pem: DtlsPem; fingerprint: string } | undefined;

/** This process's DTLS certificate for native bots, made on first use (the files are not kept). */
function clientIdentity(): { pem: DtlsPem; fingerprint: string } {
  if (identity) return identity;
  const files = createDtlsIdentity();
  if (!files) throw new Error('native bots need the openssl command for their DTLS certificate');
  try {
    const pem = MediaSocket.pemFromFiles(files);
    identity = { pem, fingerprint: sdpFingerprint(pem.certPem) };
  } finally {
    files.dispose();
  }
  return identity;
}

export class NativeLink implements BotLink {
  onState?: (state: string) => void;
  onLocalCandidate?: (candidate: string, mid: string) => void;
  private readonly socket: MediaSocket;
  private readonly t: NativePeerTransport;
  private readonly senders = new Map<string, SectionPlan>();
  private announced = false;

  constructor(name: string) {
    const { pem, fingerprint } = clientIdentity();
    this.socket = MediaSocket.open(HOST, 0, pem);
    try {
      this.t = new NativePeerTransport(
        name,
        { udpPort: this.socket.port, bindAddress: HOST, native: { socket: this.socket, fingerprint } },
        { controlling: true },
      );
    } catch (err) {
      this.socket.close();
      throw err;
    }
    this.t.onState = (state) => this.onState?.(state);
  }

  get state(): string {
    return this.t.state;
  }

  offer(): string {
    const sdp = this.t.offer((mid) => this.senders.get(mid) ?? { role: 'idle' });
    if (!this.announced) {
      // our one host candidate, for the bot to trickle like node-datachannel's
      this.announced = true;
      const mid = /^a=mid:(\S+)/m.exec(sdp)?.[1] ?? '0';
      for (const line of sdp.match(/^a=candidate:[^\r\n]+/gm) ?? []) this.onLocalCandidate?.(line, mid);
    }
    return sdp;
  }

  applyAnswer(sdp: string): void {
    this.t.applyAnswer(sdp);
  }

  addRemoteCandidate(candidate: string, mid: string): void {
    this.t.addCandidate({ candidate, sdpMid: mid });
  }

  addReceiver(mid: string, onMedia: (msg: Buffer) => void): void {
    const track = this.t.addRecvSection(mid);
    this.t.receiveWithRtcp(track);
    track.onMessage(onMedia);
  }

  addSender(mid: string, ssrc: number, cid: string): MediaTrack {
    this.senders.set(mid, { role: 'send', ssrc, streamId: `bot-${cid}`, trackId: cid });
    return this.t.addSendSection(mid, OPUS_PT);
  }

  createChannel(label: string, reliable: boolean): DataChannelLike {
    return this.t.createChannel(label, reliable);
  }

  close(): void {
    this.t.close();
    this.socket.close();
  }
}
