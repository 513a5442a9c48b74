// Nothing a client sends may take the node down: malformed frames close only the sender's
// socket (1007, 1009), requests Sotto does not implement are tolerated, bad requests get a
// RequestResponse, bad SDP and candidates are survived, bad join_requests are refused before
// the upgrade, and garbage datagrams on the media port are dropped.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import {
  AddTrackRequest,
  JoinRequest,
  MuteTrackRequest,
  RequestResponse_Reason,
  SessionDescription,
  SignalTarget,
  SimulateScenario,
  SubscriptionPermission,
  SyncState,
  TrackSource,
  TrackType,
  TrickleRequest,
  UpdateLocalAudioTrack,
  UpdateSubscription,
  UpdateTrackSettings,
  UpdateVideoLayers,
  WrappedJoinRequest,
  WrappedJoinRequest_Compression,
} from '@livekit/protocol';
import { setLogLevel } from '@sotto/media';
import { startTestNode, type TestNode } from '../support/node.ts';
import { expectRefused, joinRoom, type Request, rtcV1Url, SignalConn, sleep } from './signal-client.ts';

setLogLevel('error');

const ROOM = 'bad-input';

/** A protobuf base-128 varint. */
function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}

describe('bad input on the signal socket and the media port', { timeout: 30_000 }, () => {
  let t: TestNode;
  /** A well-behaved participant in the same room, checked after every misbehaviour. */
  let watcher: SignalConn;
  const conns: SignalConn[] = [];
  let n = 0;

  const join = async (grant = {}, room = ROOM) => {
    const j = await joinRoom(t.url, await t.token(`p${++n}`, room, grant));
    conns.push(j.conn);
    return j;
  };

  /** The socket is open and the node still answers it; and the watcher is still served. */
  const stillServed = async (conn: SignalConn) => {
    assert.ok(conn.isOpen, `the socket is still open (closed: ${JSON.stringify(conn.closeInfo)})`);
    await conn.ping();
    await watcher.ping();
  };

  before(async () => {
    t = await startTestNode();
    watcher = (await join()).conn;
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.shutdown()));
    await t?.stop();
  });

  describe('malformed frames close only the sender', () => {
    it('a binary frame that is not a SignalRequest → 1007 with a reason', async () => {
      const { conn } = await join();
      conn.sendRaw(Buffer.from([0x0a, 0x10, 0x01])); // field 1, length 16, one byte of it
      const closed = await conn.waitClosed();
      assert.equal(closed.code, 1007);
      assert.ok(closed.reason.length > 0, 'the close frame says why');
      await watcher.ping();
    });

    it('a binary frame with an invalid wire type → 1007', async () => {
      const { conn } = await join();
      conn.sendRaw(Buffer.from([0x0f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
      assert.equal((await conn.waitClosed()).code, 1007);
      await watcher.ping();
    });

    it('a text frame that is not JSON → 1007', async () => {
      const { conn } = await join();
      conn.sendRaw('{"ping": oops', false);
      assert.equal((await conn.waitClosed()).code, 1007);
      await watcher.ping();
    });

    it('a frame over 1 MiB → 1009', async () => {
      const { conn } = await join();
      conn.sendRaw(Buffer.alloc(1024 * 1024 + 1, 0x08));
      assert.equal((await conn.waitClosed(5000)).code, 1009);
      await watcher.ping();
    });

    it('a frame of exactly 1 MiB is within the limit (and tolerated as an unknown field)', async () => {
      const { conn } = await join();
      // field 1000, length-delimited, 1 MiB in total: unknown to SignalRequest, so ignored
      const total = 1024 * 1024;
      const header = Buffer.concat([varint((1000 << 3) | 2), varint(total - 5)]);
      assert.equal(header.length, 5);
      const frame = Buffer.concat([header, Buffer.alloc(total - header.length, 0x61)]);
      assert.equal(frame.length, 1024 * 1024);
      conn.sendRaw(frame);
      await stillServed(conn);
    });
  });

  describe('requests Sotto does not implement are tolerated', () => {
    const tolerated: Array<[string, Request | Buffer]> = [
      ['an empty binary frame', Buffer.alloc(0)],
      ['an unknown field only', Buffer.concat([varint(1000 << 3), varint(1)])],
      [
        'simulate speakerUpdate',
        { case: 'simulate', value: new SimulateScenario({ scenario: { case: 'speakerUpdate', value: 3 } }) },
      ],
      [
        'simulate nodeFailure',
        { case: 'simulate', value: new SimulateScenario({ scenario: { case: 'nodeFailure', value: true } }) },
      ],
      [
        'simulate migration',
        { case: 'simulate', value: new SimulateScenario({ scenario: { case: 'migration', value: true } }) },
      ],
      ['updateLayers', { case: 'updateLayers', value: new UpdateVideoLayers({ trackSid: 'TR_nope' }) }],
      [
        'trackSetting',
        { case: 'trackSetting', value: new UpdateTrackSettings({ trackSids: ['TR_nope'], disabled: true }) },
      ],
      [
        'subscriptionPermission',
        { case: 'subscriptionPermission', value: new SubscriptionPermission({ allParticipants: false }) },
      ],
      ['syncState', { case: 'syncState', value: new SyncState({}) }],
      [
        'updateAudioTrack',
        { case: 'updateAudioTrack', value: new UpdateLocalAudioTrack({ trackSid: 'TR_nope' }) },
      ],
      [
        'subscription to unknown tracks',
        {
          case: 'subscription',
          value: new UpdateSubscription({ trackSids: ['TR_nope', ''], subscribe: true }),
        },
      ],
      [
        'unsubscription from unknown tracks',
        { case: 'subscription', value: new UpdateSubscription({ trackSids: ['TR_nope'], subscribe: false }) },
      ],
    ];
    for (const [name, req] of tolerated) {
      it(name, async () => {
        const { conn } = await join();
        if (Buffer.isBuffer(req)) conn.sendRaw(req);
        else conn.send(req);
        await stillServed(conn);
      });
    }
  });

  describe('bad requests get a RequestResponse', () => {
    it('mute of an unknown track → NOT_FOUND', async () => {
      const { conn } = await join();
      conn.send({ case: 'mute', value: new MuteTrackRequest({ sid: 'TR_doesnotexist', muted: true }) });
      const res = await conn.next('requestResponse');
      assert.equal(res.reason, RequestResponse_Reason.NOT_FOUND);
      assert.equal(res.request.case, 'mute');
      await stillServed(conn);
    });

    it('addTrack of a VIDEO track → UNSUPPORTED_TYPE', async () => {
      const { conn } = await join();
      conn.send({
        case: 'addTrack',
        value: new AddTrackRequest({
          cid: 'cam',
          name: 'camera',
          type: TrackType.VIDEO,
          source: TrackSource.CAMERA,
        }),
      });
      const res = await conn.next('requestResponse');
      assert.equal(res.reason, RequestResponse_Reason.UNSUPPORTED_TYPE);
      assert.equal(res.request.case, 'addTrack');
      assert.ok(res.message.length > 0);
      await stillServed(conn);
    });

    it('addTrack without canPublish → NOT_ALLOWED', async () => {
      const { conn } = await join({ canPublish: false });
      conn.send({
        case: 'addTrack',
        value: new AddTrackRequest({ cid: 'mic', name: 'mic', type: TrackType.AUDIO }),
      });
      const res = await conn.next('requestResponse');
      assert.equal(res.reason, RequestResponse_Reason.NOT_ALLOWED);
      await stillServed(conn);
    });

    it('addTrack of a source the token does not allow → NOT_ALLOWED', async () => {
      const { conn } = await join({ canPublishSources: ['microphone'] });
      conn.send({
        case: 'addTrack',
        value: new AddTrackRequest({
          cid: 'share',
          type: TrackType.AUDIO,
          source: TrackSource.SCREEN_SHARE_AUDIO,
        }),
      });
      assert.equal((await conn.next('requestResponse')).reason, RequestResponse_Reason.NOT_ALLOWED);
      await stillServed(conn);
    });

    it('a good addTrack of audio → trackPublished (the checks above can pass)', async () => {
      const { conn } = await join();
      conn.send({
        case: 'addTrack',
        value: new AddTrackRequest({ cid: 'mic', name: 'mic', type: TrackType.AUDIO }),
      });
      const res = await conn.next('trackPublished');
      assert.equal(res.cid, 'mic');
      assert.match(res.track?.sid ?? '', /^TR_/);
      assert.equal(res.track?.type, TrackType.AUDIO);
    });
  });

  describe('bad SDP and candidates are survived', () => {
    const offers: Array<[string, string]> = [
      ['garbage', 'hello, I am not SDP'],
      ['empty', ''],
      ['v=0 and nothing else', 'v=0\r\n'],
      ['v=0 then garbage', 'v=0\r\nthis is\r\nnot=sdp\r\nm=\r\nm=audio\r\na=mid:\r\n'],
      [
        'no audio (video only)',
        [
          'v=0',
          'o=- 1 1 IN IP4 127.0.0.1',
          's=-',
          't=0 0',
          'a=group:BUNDLE 0',
          'm=video 9 UDP/TLS/RTP/SAVPF 96',
          'c=IN IP4 0.0.0.0',
          'a=mid:0',
          'a=sendonly',
          'a=ice-ufrag:abcd',
          'a=ice-pwd:abcdefghijklmnopqrstuvwx',
          'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
          'a=setup:actpass',
          'a=rtpmap:96 VP8/90000',
          '',
        ].join('\r\n'),
      ],
      ['no media sections at all', ['v=0', 'o=- 1 1 IN IP4 127.0.0.1', 's=-', 't=0 0', ''].join('\r\n')],
      [
        'audio without ICE credentials or fingerprint',
        [
          'v=0',
          'o=- 1 1 IN IP4 127.0.0.1',
          's=-',
          't=0 0',
          'm=audio 9 UDP/TLS/RTP/SAVPF 111',
          'c=IN IP4 0.0.0.0',
          'a=mid:0',
          'a=sendonly',
          'a=rtpmap:111 opus/48000/2',
          '',
        ].join('\r\n'),
      ],
    ];
    for (const [name, sdp] of offers) {
      it(`an offer whose SDP is ${name}`, async () => {
        const { conn } = await join();
        conn.send({ case: 'offer', value: new SessionDescription({ type: 'offer', sdp, id: 1 }) });
        await stillServed(conn);
      });
    }

    it('an answer whose SDP is garbage (to the subscriber offer)', async () => {
      const { conn } = await join();
      await conn.next('offer');
      conn.send({
        case: 'answer',
        value: new SessionDescription({ type: 'answer', sdp: 'v=0\r\nnope\r\n', id: 1 }),
      });
      conn.send({ case: 'answer', value: new SessionDescription({ type: 'answer', sdp: '', id: 1 }) });
      await stillServed(conn);
    });

    const candidates: Array<[string, string]> = [
      ['not JSON', 'candidate:1 1 udp 1 127.0.0.1 9 typ host'],
      ['JSON but not an object', '"hello"'],
      ['JSON null', 'null'],
      ['an object with a garbage candidate', JSON.stringify({ candidate: 'candidate:garbage', sdpMid: '0' })],
      ['an object with a non-string candidate', JSON.stringify({ candidate: 42, sdpMid: 7 })],
      ['empty', ''],
    ];
    for (const [name, candidateInit] of candidates) {
      it(`a trickle whose candidateInit is ${name}`, async () => {
        const { conn } = await join();
        for (const target of [SignalTarget.PUBLISHER, SignalTarget.SUBSCRIBER]) {
          conn.send({ case: 'trickle', value: new TrickleRequest({ candidateInit, target }) });
        }
        await stillServed(conn);
      });
    }
  });

  describe('a bad join_request on /rtc/v1 is refused before the upgrade', () => {
    const v1 = async (joinRequest: string) => {
      const token = await t.token('v1-bad', 'v1-bad');
      return `${t.url}/rtc/v1?access_token=${token}&join_request=${encodeURIComponent(joinRequest)}`;
    };
    const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url');

    it('not base64url → 400', async () => {
      const r = await expectRefused(await v1('not base64!*'));
      assert.equal(r.status, 400);
      const body = JSON.parse(r.body) as { code: string; message: string };
      assert.equal(body.code, 'malformed_join_request');
      assert.ok(body.message.length > 0);
    });

    it('base64url of bytes that are not a WrappedJoinRequest → 400', async () => {
      const r = await expectRefused(await v1(b64(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f]))));
      assert.equal(r.status, 400);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'malformed_join_request');
    });

    it('a WrappedJoinRequest whose joinRequest is not a JoinRequest → 400', async () => {
      const wrapped = new WrappedJoinRequest({ joinRequest: new Uint8Array([0x0a, 0x7f, 0x01]) });
      const r = await expectRefused(await v1(b64(wrapped.toBinary())));
      assert.equal(r.status, 400);
    });

    it('a WrappedJoinRequest flagged GZIP that is not gzip → 400', async () => {
      const wrapped = new WrappedJoinRequest({
        compression: WrappedJoinRequest_Compression.GZIP,
        joinRequest: new JoinRequest({ metadata: 'plain' }).toBinary(),
      });
      const r = await expectRefused(await v1(b64(wrapped.toBinary())));
      assert.equal(r.status, 400);
    });

    it('no room or participant was created by those refusals', () => {
      assert.equal(t.node.getRoom('v1-bad'), undefined);
    });

    it('a good join_request is accepted (the refusals above are about the bytes)', async () => {
      const conn = await SignalConn.open(
        rtcV1Url(t.url, await t.token('v1-good', 'v1-good'), new JoinRequest({ metadata: 'from-join' })),
      );
      conns.push(conn);
      const j = await conn.next('join');
      assert.equal(j.participant?.metadata, 'from-join');
    });
  });

  describe('garbage datagrams on the media port', () => {
    const stunHeader = (type: number, length: number) => {
      const h = Buffer.alloc(20);
      h.writeUInt16BE(type, 0);
      h.writeUInt16BE(length, 2);
      h.writeUInt32BE(0x2112a442, 4);
      randomBytes(12).copy(h, 8);
      return h;
    };
    const attr = (type: number, value: Buffer) => {
      const a = Buffer.alloc(4 + Math.ceil(value.length / 4) * 4);
      a.writeUInt16BE(type, 0);
      a.writeUInt16BE(value.length, 2);
      value.copy(a, 4);
      return a;
    };
    const stun = (attrs: Buffer[], lengthOverride?: number) => {
      const body = Buffer.concat(attrs);
      return Buffer.concat([stunHeader(0x0001, lengthOverride ?? body.length), body]);
    };
    const rtp = (pt: number) => {
      const p = Buffer.alloc(12 + 80);
      p[0] = 0x80;
      p[1] = pt;
      p.writeUInt16BE(1234, 2);
      p.writeUInt32BE(960, 4);
      p.writeUInt32BE(0xdeadbeef, 8);
      randomBytes(80).copy(p, 12);
      return p;
    };

    it('random bytes, fake STUN, fake RTP/RTCP/DTLS → the node keeps serving', async () => {
      const { conn: victim } = await join();
      const offer = await victim.next('offer');
      const ufrag = /a=ice-ufrag:(\S+)/.exec(offer.sdp)?.[1] ?? 'none';

      const packets: Buffer[] = [];
      for (let i = 0; i < 200; i++) packets.push(randomBytes(1 + ((i * 37) % 1400)));
      packets.push(Buffer.alloc(0), Buffer.from([0x00]), Buffer.from([0x01, 0x01]));
      packets.push(stunHeader(0x0001, 0)); // binding request, no attributes
      packets.push(stunHeader(0x0101, 0)); // an unsolicited binding success
      packets.push(stunHeader(0x0001, 400)); // length beyond the datagram
      packets.push(stun([attr(0x0006, Buffer.from('nobody:nothing'))])); // unknown ufrag
      packets.push(
        // a live agent's ufrag with a forged MESSAGE-INTEGRITY and FINGERPRINT
        stun([
          attr(0x0006, Buffer.from(`${ufrag}:intruder`)),
          attr(0x0024, Buffer.from([0x6e, 0x7f, 0x1e, 0xff])),
          attr(0x0008, randomBytes(20)),
          attr(0x8028, randomBytes(4)),
        ]),
      );
      packets.push(stun([attr(0x0006, Buffer.alloc(0)), attr(0x0008, randomBytes(3))])); // bad sizes
      packets.push(stun([attr(0x0006, Buffer.from(`${ufrag}:x`))], 8)); // attribute cut short
      packets.push(rtp(111), rtp(0), rtp(127));
      const rtcp = Buffer.alloc(28);
      rtcp[0] = 0x80;
      rtcp[1] = 200;
      rtcp.writeUInt16BE(6, 2);
      packets.push(rtcp);
      packets.push(Buffer.concat([Buffer.from([0x16, 0xfe, 0xfd]), randomBytes(60)])); // DTLS-ish

      const sock = createSocket('udp4');
      try {
        for (let round = 0; round < 3; round++) {
          for (const p of packets) {
            await new Promise<void>((resolve) =>
              sock.send(p, t.node.cfg.udpPort, '127.0.0.1', () => resolve()),
            );
          }
        }
      } finally {
        sock.close();
      }
      await sleep(300);

      await stillServed(victim);
      const { conn: newcomer, join: j } = await join();
      assert.equal(j.participant?.identity.startsWith('p'), true);
      await newcomer.next('offer');
      await newcomer.ping();
    });
  });
});
