// The native transport against a real WebRTC peer (node-datachannel / libdatachannel, which
// brings its own libjuice ICE, OpenSSL DTLS, libsrtp and usrsctp): ICE-lite, DTLS-SRTP, RTP both
// ways, data channels both ways, and the failure paths — a forged certificate, garbage on the
// socket.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import type { DataChannel, PeerConnection, Track } from 'node-datachannel';
import ndc from 'node-datachannel';
import { OPUS_PT, rtpPacket } from '../../../test/bot/rtp.ts';
import { until } from '../../../test/bot/wait.ts';
import { createDtlsIdentity, type DtlsIdentity } from '../dtls.ts';
import type { SectionPlan } from '../sdp.ts';
import type { DataChannelLike, MediaTrack } from '../transport.ts';
import { MediaSocket } from './socket.ts';
import { NativePeerTransport, sdpFingerprint } from './transport.ts';

/** A libdatachannel peer that offers: one send-recv audio section and one data channel. */
class Client {
  readonly pc: PeerConnection;
  readonly track: Track;
  readonly dc: DataChannel;
  readonly rtpIn: Buffer[] = [];
  readonly dataIn: string[] = [];
  state = 'new';
  private readonly offered: Promise<string>;

  constructor(readonly ssrc: number) {
    this.pc = new ndc.PeerConnection('client', {
      iceServers: [],
      bindAddress: '127.0.0.1',
      disableAutoNegotiation: true,
    });
    this.pc.onStateChange((s) => {
      this.state = s;
    });
    this.offered = new Promise((resolve) => {
      this.pc.onGatheringStateChange((g) => {
        if (g === 'complete') resolve(this.pc.localDescription()?.sdp ?? '');
      });
    });
    const audio = new ndc.Audio('0', 'SendRecv');
    audio.addOpusCodec(OPUS_PT);
    audio.addSSRC(ssrc, 'client', 'stream', 'track');
    this.track = this.pc.addTrack(audio);
    this.track.onMessage((m) => {
      if (m[1] !== 200 && m[1] !== 201) this.rtpIn.push(Buffer.from(m));
    });
    this.dc = this.pc.createDataChannel('chat');
    this.dc.onMessage((m) => this.dataIn.push(String(m)));
    this.pc.setLocalDescription('offer');
  }

  offer(): Promise<string> {
    return this.offered;
  }

  close(): void {
    this.dc.close();
    this.track.close();
    this.pc.close();
  }
}

describe('native transport with a libdatachannel peer', { timeout: 30_000 }, () => {
  let identity: DtlsIdentity;
  let socket: MediaSocket;
  const cfg = () => ({
    udpPort: socket.port,
    bindAddress: '127.0.0.1',
    native: { socket, fingerprint: sdpFingerprint(MediaSocket.pemFromFiles(identity).certPem) },
  });

  before(() => {
    const id = createDtlsIdentity();
    assert.ok(id, 'openssl is needed for the DTLS certificate');
    identity = id;
    socket = MediaSocket.open('127.0.0.1', 0, MediaSocket.pemFromFiles(identity));
  });

  after(() => {
    socket.close();
    identity.dispose();
  });

  it('connects over ICE-lite and DTLS-SRTP, carries RTP both ways and data channels both ways', async () => {
    const client = new Client(0x1234abcd);
    const t = new NativePeerTransport('t1', cfg());
    const states: string[] = [];
    t.onState = (s) => states.push(s);
    let received: MediaTrack | undefined;
    t.onTrack = (_mid, track) => {
      received = track;
    };
    const channels = new Map<string, DataChannelLike>();
    const dataAtNode: string[] = [];
    t.onChannel = (label, dc) => {
      channels.set(label, dc);
      dc.onMessage((m) => dataAtNode.push(String(m)));
    };
    try {
      const answer = t.answer(await client.offer(), (): SectionPlan => ({ role: 'receive' }));
      assert.match(answer, /^a=ice-lite/m);
      assert.match(answer, /^a=setup:passive/m);
      client.pc.setRemoteDescription(answer, 'answer');
      await until(() => client.state === 'connected' && t.state === 'connected', 'both sides connected');
      assert.deepEqual(states, ['connecting', 'connected']);

      // client → node: SRTP decrypted and handed to the section's track
      await until(() => received !== undefined, 'onTrack');
      const up: Buffer[] = [];
      received?.onMessage((m) => up.push(m));
      t.receiveWithRtcp(received as MediaTrack);
      for (let i = 0; i < 20; i++) client.track.sendMessageBinary(rtpPacket(i, client.ssrc, `up ${i}`));
      await until(() => up.length === 20, '20 packets at the node');
      assert.equal(up[7].subarray(12).toString(), 'up 7');
      assert.equal(up[7].readUInt32BE(8), client.ssrc);

      // node → client on the same section
      const ours = 0x0badcafe;
      for (let i = 0; i < 20; i++) received?.sendMessageBinary(rtpPacket(1000 + i, ours, `down ${i}`));
      await until(() => client.rtpIn.length >= 20, '20 packets at the client');
      assert.equal(client.rtpIn[3].subarray(12).toString(), 'down 3');

      // a generic NACK from the client (SRTCP) reaches whoever answers for that SSRC
      const nacked: number[][] = [];
      t.retransmitOnNack(received as MediaTrack, {
        ssrc: ours,
        retransmit: (seqs) => {
          nacked.push(seqs);
          return 0;
        },
      });
      const nack = Buffer.alloc(16);
      nack[0] = 0x81; // FMT 1: generic NACK
      nack[1] = 205;
      nack.writeUInt16BE(3, 2);
      nack.writeUInt32BE(client.ssrc, 4);
      nack.writeUInt32BE(ours, 8);
      nack.writeUInt16BE(1005, 12);
      nack.writeUInt16BE(0b1, 14);
      client.track.sendMessageBinary(nack);
      await until(() => nacked.length === 1, 'the NACK at the node');
      assert.deepEqual(nacked[0], [1005, 1006]);

      // the client's channel reaches the node, ours reaches the client
      await until(() => channels.has('chat'), 'the client channel at the node');
      client.dc.sendMessage('hello node');
      await until(() => dataAtNode.includes('hello node'), 'data at the node');
      channels.get('chat')?.sendMessageBinary(Buffer.from('hello client'));
      await until(() => client.dataIn.includes('hello client'), 'data at the client');
      const stats = socket.stats();
      assert.equal(stats.authFailures, 0);
      assert.ok(stats.txDatagrams > 20);
    } finally {
      t.close();
      client.close();
    }
  });

  it('refuses a peer whose certificate does not match the fingerprint it announced', async () => {
    const client = new Client(0x5555);
    const t = new NativePeerTransport('t2', cfg());
    const states: string[] = [];
    t.onState = (s) => states.push(s);
    try {
      const offer = (await client.offer()).replace(
        /^a=fingerprint:sha-256 (\S+)/m,
        (_l, fp: string) => `a=fingerprint:sha-256 ${fp.startsWith('00') ? '11' : '00'}${fp.slice(2)}`,
      );
      client.pc.setRemoteDescription(
        t.answer(offer, () => ({ role: 'receive' })),
        'answer',
      );
      await until(() => states.includes('failed'), 'the transport to fail');
      assert.ok(!states.includes('connected'), `states: ${states.join(',')}`);
    } finally {
      t.close();
      client.close();
    }
  });

  it('stops sending when the peer stops consenting (RFC 7675), and resumes with its next check', async () => {
    // a socket of its own that sweeps often, and a 1.5 s consent timeout: libjuice checks every ~5.5 s
    const own = MediaSocket.open('127.0.0.1', 0, MediaSocket.pemFromFiles(identity), { consentSweepMs: 200 });
    const client = new Client(0x4242);
    const t = new NativePeerTransport(
      't-consent',
      { ...cfg(), udpPort: own.port, native: { socket: own, fingerprint: cfg().native.fingerprint } },
      { consentTimeoutMs: 1500 },
    );
    const states: string[] = [];
    t.onState = (s) => states.push(s);
    let track: MediaTrack | undefined;
    t.onTrack = (_mid, tr) => {
      track = tr;
    };
    try {
      client.pc.setRemoteDescription(
        t.answer(await client.offer(), () => ({ role: 'receive' })),
        'answer',
      );
      await until(() => t.state === 'connected' && track !== undefined, 'connected');
      await until(() => t.state === 'disconnected', 'consent to expire', 8000);
      assert.equal(track?.sendMessageBinary(rtpPacket(1, 0x99, 'x')), false, 'nothing sent without consent');
      await until(() => t.state === 'connected', 'the next check to bind again', 8000);
      const before = client.rtpIn.length;
      assert.equal(track?.sendMessageBinary(rtpPacket(2, 0x99, 'back')), true);
      await until(() => client.rtpIn.length > before, 'media after consent came back');
      assert.deepEqual(states.slice(0, 4), ['connecting', 'connected', 'disconnected', 'connected']);
    } finally {
      t.close();
      client.close();
      own.close();
    }
  });

  it('ignores garbage and forged STUN on the socket, and keeps serving', async () => {
    // a socket of its own: the earlier tests' closed peers may still send a last datagram
    socket.close();
    socket = MediaSocket.open('127.0.0.1', 0, MediaSocket.pemFromFiles(identity));
    const junk = createSocket('udp4');
    await new Promise<void>((r) => junk.bind(0, '127.0.0.1', () => r()));
    const before = socket.stats();
    const send = (b: Buffer) => new Promise<void>((r) => junk.send(b, socket.port, '127.0.0.1', () => r()));
    await send(Buffer.from('definitely not webrtc'));
    await send(Buffer.from([0x80, 111, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 9, 9, 9])); // RTP from nobody
    await send(Buffer.from([0x16, 0xfe, 0xfd, 0, 0])); // DTLS from nobody
    // a well-formed binding request for a user nobody has
    const stun = Buffer.alloc(20 + 12);
    stun.writeUInt16BE(0x0001, 0);
    stun.writeUInt16BE(12, 2);
    stun.writeUInt32BE(0x2112a442, 4);
    stun.writeUInt16BE(0x0006, 20);
    stun.writeUInt16BE(5, 22);
    stun.write('ab:cd', 24);
    await send(stun);
    junk.close();
    await until(() => socket.stats().rxDatagrams >= before.rxDatagrams + 4, 'the datagrams to arrive');
    const after = socket.stats();
    assert.equal(after.rxDropped - before.rxDropped, 3, 'non-STUN from unknown addresses dropped');
    assert.ok(after.stunDropped > before.stunDropped, 'STUN without integrity for no user dropped');
    assert.equal(after.txDatagrams, before.txDatagrams, 'nothing answered');

    // and a real peer still connects
    const client = new Client(0x7777);
    const t = new NativePeerTransport('t3', cfg());
    try {
      client.pc.setRemoteDescription(
        t.answer(await client.offer(), () => ({ role: 'receive' })),
        'answer',
      );
      await until(() => t.state === 'connected', 'connected after the garbage');
    } finally {
      t.close();
      client.close();
    }
  });
});
