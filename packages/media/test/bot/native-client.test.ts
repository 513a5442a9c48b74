// The native transport in client mode ({ controlling: true }), which load-test bots use: against
// the node's side of the same transport (ICE-lite, DTLS server), and against a fake node on a
// plain UDP socket that answers its checks as a test wants (forged, misdirected, never).
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { setLogLevel } from '@sotto/media';
import { createDtlsIdentity, type DtlsIdentity } from '../../src/sfu/dtls.ts';
import { type DtlsPem, MediaSocket, NativeEvent } from '../../src/sfu/native/socket.ts';
import { bindingSuccess, parseBindingRequest, verifyIntegrity } from '../../src/sfu/native/stun.ts';
import { NativePeerTransport, sdpFingerprint } from '../../src/sfu/native/transport.ts';
import type { SectionPlan } from '../../src/sfu/sdp.ts';
import type { DataChannelLike } from '../../src/sfu/transport.ts';
import { rtpPacket } from './rtp.ts';
import { sleep, until } from './wait.ts';

setLogLevel('warn');

/** An RTCP sender report for `ssrc` (RFC 3550 §6.4.1), no report blocks. */
function senderReport(ssrc: number): Buffer {
  const b = Buffer.alloc(28);
  b[0] = 0x80;
  b[1] = 200;
  b.writeUInt16BE(6, 2);
  b.writeUInt32BE(ssrc, 4);
  b.writeUInt32BE(0x12345678, 8);
  b.writeUInt32BE(0x9abcdef0, 12);
  return b;
}

const send = (ssrc: number, streamId: string): SectionPlan => ({
  role: 'send',
  ssrc,
  streamId,
  trackId: streamId,
});

describe('the native transport as a client', { timeout: 30_000 }, () => {
  let identity: DtlsIdentity;
  let pem: DtlsPem;
  let fingerprint: string;
  const sockets: MediaSocket[] = [];
  const open = () => {
    const s = MediaSocket.open('127.0.0.1', 0, pem);
    sockets.push(s);
    return s;
  };
  const cfg = (socket: MediaSocket) => ({
    udpPort: socket.port,
    bindAddress: '127.0.0.1',
    native: { socket, fingerprint },
  });

  before(() => {
    const id = createDtlsIdentity();
    assert.ok(id, 'openssl is needed for the DTLS certificate');
    identity = id;
    pem = MediaSocket.pemFromFiles(identity);
    fingerprint = sdpFingerprint(pem.certPem);
  });

  after(() => {
    for (const s of sockets) s.close();
    identity.dispose();
  });

  it('connects to the node side, maps each SSRC to its section, answers sender reports', async () => {
    const server = new NativePeerTransport('srv', cfg(open()));
    const clientSocket = open();
    const client = new NativePeerTransport('cli', cfg(clientSocket), { controlling: true });
    const states: string[] = [];
    client.onState = (s) => states.push(s);
    const atNode = new Map<string, DataChannelLike>();
    server.onChannel = (label, dc) => atNode.set(label, dc);
    try {
      const a = client.addRecvSection('a');
      const b = client.addRecvSection('b', { nack: false });
      const chat = client.createChannel('chat', true);
      const inA: Buffer[] = [];
      const inB: Buffer[] = [];
      a.onMessage((m) => inA.push(m));
      b.onMessage((m) => inB.push(m));
      client.receiveWithRtcp(a);

      // whatever the plan says, receive sections stay receive-only
      const offer = client.offer(() => send(1, 'nope'));
      assert.doesNotMatch(offer, /^a=ice-lite/m);
      assert.match(offer, /^a=setup:actpass/m);
      assert.equal(offer.match(/^a=recvonly/gm)?.length, 2);
      assert.equal(offer.match(/^a=rtcp-fb:111 nack/gm)?.length, 1, 'NACK on section a only');
      assert.doesNotMatch(offer, /^a=ssrc:/m);
      assert.match(
        offer,
        new RegExp(`^a=candidate:1 1 udp \\d+ 127\\.0\\.0\\.1 ${clientSocket.port} typ host`, 'm'),
      );

      let plan = (mid: string): SectionPlan =>
        mid === 'a' ? send(0xaaaa, 'ta') : mid === 'b' ? send(0xbbbb, 'tb') : { role: 'receive' };
      const answer = server.answer(offer, (mid) => plan(mid));
      assert.match(answer, /^a=ice-lite/m);
      assert.match(answer, /^a=setup:passive/m);
      client.applyAnswer(answer);
      assert.equal(client.remotePwd, /^a=ice-pwd:(\S+)/m.exec(answer)?.[1]);
      await until(() => client.state === 'connected' && server.state === 'connected', 'both connected');
      assert.deepEqual(states, ['connecting', 'connected']);

      // node → client: each SSRC in the section the answer gave it
      await until(() => server.tracks.get('a')?.isOpen() === true, 'the node track open');
      for (let i = 0; i < 10; i++) {
        server.tracks.get('a')?.sendMessageBinary(rtpPacket(i, 0xaaaa, `a${i}`));
        server.tracks.get('b')?.sendMessageBinary(rtpPacket(i, 0xbbbb, `b${i}`));
      }
      await until(() => inA.length === 10 && inB.length === 10, '10 packets in each section');
      assert.ok(inA.every((p, i) => p.subarray(12).toString() === `a${i}`));
      assert.ok(inB.every((p, i) => p.subarray(12).toString() === `b${i}`));

      // a sender report is answered at once with a receiver report
      const rtcpAtNode: number[] = [];
      const deliver = server.nativeEvent.bind(server);
      server.nativeEvent = (kind, data, num, text) => {
        if (kind === NativeEvent.Rtcp && data) rtcpAtNode.push(data[1]);
        deliver(kind, data, num, text);
      };
      server.tracks.get('a')?.sendMessageBinary(senderReport(0xaaaa));
      await until(() => rtcpAtNode.includes(201), 'a receiver report at the node');

      // data both ways
      await until(() => atNode.has('chat') && chat.isOpen(), 'the channel open at both ends');
      const gotAtNode: string[] = [];
      const gotAtClient: string[] = [];
      atNode.get('chat')?.onMessage((m) => gotAtNode.push(String(m)));
      chat.onMessage((m) => gotAtClient.push(String(m)));
      chat.sendMessageBinary(Buffer.from('to the node'));
      atNode.get('chat')?.sendMessageBinary(Buffer.from('to the client'));
      await until(() => gotAtNode.includes('to the node') && gotAtClient.includes('to the client'), 'data');

      // renegotiation moves a new source into section a; the old one no longer lands there
      plan = (mid) =>
        mid === 'a' ? send(0xcccc, 'tc') : mid === 'b' ? send(0xbbbb, 'tb') : { role: 'receive' };
      client.applyAnswer(
        server.answer(
          client.offer(() => ({ role: 'idle' })),
          (mid) => plan(mid),
        ),
      );
      inA.length = 0;
      server.tracks.get('a')?.sendMessageBinary(rtpPacket(100, 0xaaaa, 'stale'));
      server.tracks.get('a')?.sendMessageBinary(rtpPacket(101, 0xcccc, 'fresh'));
      await until(() => inA.length > 0, 'the new source');
      await sleep(50);
      assert.deepEqual(
        inA.map((p) => p.subarray(12).toString()),
        ['fresh'],
      );
      assert.equal(client.state, 'connected');
    } finally {
      client.close();
      server.close();
    }
  });

  describe('against a fake node', () => {
    let fake: Socket;
    const checks: { msg: Buffer; port: number }[] = [];
    const fakePwd = 'fakepasswordfakepassword';
    /** When set, the fake node answers every check as a node would. */
    let answering = false;

    before(async () => {
      fake = createSocket('udp4');
      fake.on('message', (msg, from) => {
        checks.push({ msg, port: from.port });
        const req = answering && msg[0] <= 1 ? parseBindingRequest(msg) : undefined;
        if (req)
          fake.send(
            bindingSuccess(req.transactionId, from.address, from.port, fakePwd),
            from.port,
            from.address,
          );
      });
      await new Promise<void>((r) => fake.bind(0, '127.0.0.1', () => r()));
    });

    after(() => fake.close());

    /** An answer from the fake node: its ufrag/password and one candidate, its own port. */
    const fakeAnswer = (port: number) =>
      [
        'v=0',
        'o=- 1 1 IN IP4 0.0.0.0',
        's=-',
        't=0 0',
        'a=group:BUNDLE a',
        'a=ice-lite',
        'm=audio 9 UDP/TLS/RTP/SAVPF 111',
        'c=IN IP4 0.0.0.0',
        'a=mid:a',
        'a=ice-ufrag:fake',
        `a=ice-pwd:${fakePwd}`,
        `a=fingerprint:sha-256 ${fingerprint}`,
        'a=setup:passive',
        'a=rtcp-mux',
        'a=rtpmap:111 opus/48000/2',
        'a=inactive',
        `a=candidate:1 1 udp 2130706431 127.0.0.1 ${port} typ host`,
        '',
      ].join('\r\n');

    const answerFrom = (from: Socket, to: number, bytes: Buffer) =>
      new Promise<void>((r) => from.send(bytes, to, '127.0.0.1', () => r()));

    it('sends signed, nominating checks; takes only a signed answer from where the check went', async () => {
      checks.length = 0;
      const socket = open();
      const client = new NativePeerTransport('cli2', cfg(socket), { controlling: true });
      const other = createSocket('udp4');
      await new Promise<void>((r) => other.bind(0, '127.0.0.1', () => r()));
      try {
        client.addRecvSection('a');
        client.offer(() => ({ role: 'idle' }));
        client.applyAnswer(fakeAnswer(fake.address().port));
        assert.equal(client.state, 'connecting');
        await until(() => checks.length >= 3, 'checks every 50 ms');
        const req = parseBindingRequest(checks[0].msg);
        assert.ok(req);
        assert.equal(req.username, `fake:${client.localUfrag}`);
        assert.equal(req.useCandidate, true);
        assert.equal(typeof req.iceControlling, 'bigint');
        assert.ok(verifyIntegrity(req.message, fakePwd), 'signed with the remote password');
        assert.equal(checks[0].port, socket.port);

        const dropped = socket.stats().stunDropped;
        const txid = req.transactionId;
        // signed with the wrong password; the right one but from another port; an unknown transaction
        await answerFrom(fake, socket.port, bindingSuccess(txid, '127.0.0.1', socket.port, client.localPwd));
        await answerFrom(other, socket.port, bindingSuccess(txid, '127.0.0.1', socket.port, fakePwd));
        await answerFrom(
          fake,
          socket.port,
          bindingSuccess(Buffer.alloc(12, 7), '127.0.0.1', socket.port, fakePwd),
        );
        await until(() => socket.stats().stunDropped >= dropped + 3, 'three answers dropped');
        await sleep(30);
        assert.ok(!checks.some((c) => c.msg[0] === 22), 'no DTLS yet');

        // the real answer (the transaction survived the forged one): bound, and the DTLS client starts
        await answerFrom(fake, socket.port, bindingSuccess(txid, '127.0.0.1', socket.port, fakePwd));
        await until(() => checks.some((c) => c.msg[0] === 22), 'a DTLS ClientHello');
        const sent = checks.length;
        await sleep(200);
        assert.ok(
          checks.slice(sent).every((c) => c.msg[0] !== 0 && c.msg[0] !== 1),
          'no more checks once one was answered',
        );
      } finally {
        other.close();
        client.close();
      }
    });

    it('fails when no check is answered in time, and stops checking', async () => {
      checks.length = 0;
      const client = new NativePeerTransport('cli3', cfg(open()), { controlling: true, checkTimeoutMs: 300 });
      const states: string[] = [];
      client.onState = (s) => states.push(s);
      try {
        client.addRecvSection('a');
        client.offer(() => ({ role: 'idle' }));
        client.applyAnswer(fakeAnswer(fake.address().port));
        await until(() => states.includes('failed'), 'failed', 2000);
        const sent = checks.length;
        assert.ok(sent >= 2 && sent <= 9, `${sent} checks in 300 ms (one per 50 ms)`);
        await sleep(150);
        assert.equal(checks.length, sent, 'checks stopped');
        assert.deepEqual(states, ['connecting', 'failed']);
      } finally {
        client.close();
      }
    });

    it('keeps checking consent once bound, and fails when the answers stop', async () => {
      checks.length = 0;
      const client = new NativePeerTransport('cli4', cfg(open()), {
        controlling: true,
        consentIntervalMs: 100,
        consentTimeoutMs: 500,
      });
      const states: string[] = [];
      client.onState = (s) => states.push(s);
      answering = true;
      try {
        client.addRecvSection('a');
        client.offer(() => ({ role: 'idle' }));
        client.applyAnswer(fakeAnswer(fake.address().port));
        await until(() => checks.some((c) => c.msg[0] === 22), 'bound: a DTLS ClientHello');
        const bound = checks.length;
        await sleep(450);
        const consent = checks
          .slice(bound)
          .map((c) => (c.msg[0] <= 1 ? parseBindingRequest(c.msg) : undefined))
          .filter((r) => r !== undefined);
        assert.ok(consent.length >= 1 && consent.length <= 6, `${consent.length} consent checks in 450 ms`);
        assert.ok(consent.every((r) => !r.useCandidate && verifyIntegrity(r.message, fakePwd)));
        assert.deepEqual(states, ['connecting']);

        answering = false;
        await until(() => states.includes('failed'), 'consent lost', 2000);
        const sent = checks.length;
        await sleep(250);
        assert.equal(
          checks.slice(sent).filter((c) => c.msg[0] <= 1).length,
          0,
          'no checks after consent was lost',
        );
      } finally {
        answering = false;
        client.close();
      }
    });

    it('refuses receive sections on the node side', () => {
      const server = new NativePeerTransport('srv2', cfg(open()));
      try {
        assert.throws(() => server.addRecvSection('a'), /client mode/);
      } finally {
        server.close();
      }
    });
  });
});
