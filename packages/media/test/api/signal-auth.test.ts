// Who may open a signal socket, and what a good join looks like on the wire: the upgrade is
// refused before any socket exists for every kind of bad token, /validate answers the same
// question over plain HTTP, and an accepted dual-PC join gets LiveKit's JoinResponse, offers,
// participant updates, pongs and leaves.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  DisconnectReason,
  JoinRequest,
  LeaveRequest,
  LeaveRequest_Action,
  ParticipantInfo_State,
  SessionDescription,
  UpdateParticipantMetadata,
} from '@livekit/protocol';
import { setLogLevel } from '@sotto/media';
import { SignJWT } from 'jose';
import { AccessToken } from 'livekit-server-sdk';
import ndc from 'node-datachannel';
import { API_KEY, API_SECRET, startTestNode, type TestNode } from '../support/node.ts';
import { expectRefused, joinRoom, rtcUrl, rtcV1Url, SignalConn, sleep } from './signal-client.ts';

setLogLevel('warn');

const PATHS = ['/rtc', '/rtc/v1'] as const;
const now = () => Math.floor(Date.now() / 1000);

/** A hand-made HS256 token, for claims the SDKs will not produce. */
function jwt(claims: Record<string, unknown>, opts: { key?: string; secret?: string } = {}): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(opts.key ?? API_KEY)
    .sign(new TextEncoder().encode(opts.secret ?? API_SECRET));
}

async function sdkToken(key: string, secret: string, identity: string, room: string): Promise<string> {
  const at = new AccessToken(key, secret, { identity, ttl: 600 });
  at.addGrant({ roomJoin: true, room });
  return at.toJwt();
}

interface BadToken {
  name: string;
  token: () => Promise<string>;
  status: 401 | 403;
  code: string;
}

const BAD_TOKENS: BadToken[] = [
  { name: 'no token', token: async () => '', status: 401, code: 'missing_token' },
  { name: 'a malformed token', token: async () => 'not.a-jwt', status: 401, code: 'malformed_token' },
  {
    name: 'an unknown API key',
    token: () => sdkToken('otherkey', 'other-secret', 'alice', 'auth'),
    status: 401,
    code: 'unknown_api_key',
  },
  {
    name: 'a bad signature',
    token: () => sdkToken(API_KEY, 'not-the-secret', 'alice', 'auth'),
    status: 401,
    code: 'bad_signature',
  },
  {
    name: 'an expired token',
    token: () =>
      jwt({ sub: 'alice', video: { roomJoin: true, room: 'auth' }, nbf: now() - 600, exp: now() - 120 }),
    status: 401,
    code: 'token_expired',
  },
  {
    name: 'nbf in the future',
    token: () =>
      jwt({ sub: 'alice', video: { roomJoin: true, room: 'auth' }, nbf: now() + 300, exp: now() + 3600 }),
    status: 401,
    code: 'token_not_yet_valid',
  },
  {
    name: 'a token without roomJoin',
    token: () => jwt({ sub: 'alice', video: { room: 'auth', canPublish: true }, exp: now() + 600 }),
    status: 403,
    code: 'missing_grant',
  },
  {
    name: 'a token without room',
    token: () => jwt({ sub: 'alice', video: { roomJoin: true }, exp: now() + 600 }),
    status: 403,
    code: 'missing_grant',
  },
  {
    name: 'a token without identity',
    token: () => jwt({ video: { roomJoin: true, room: 'auth' }, exp: now() + 600 }),
    status: 403,
    code: 'missing_identity',
  },
];

function withToken(base: string, path: string, token: string): string {
  return `${base}${path}${token ? `?access_token=${encodeURIComponent(token)}` : ''}`;
}

describe('signal authentication and the join handshake', { timeout: 30_000 }, () => {
  let t: TestNode;
  const conns: SignalConn[] = [];
  const track = (c: SignalConn) => {
    conns.push(c);
    return c;
  };
  const join = async (identity: string, room: string, grant = {}) => {
    const j = await joinRoom(t.url, await t.token(identity, room, grant));
    track(j.conn);
    return j;
  };

  before(async () => {
    t = await startTestNode();
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.shutdown()));
    await t?.stop();
  });

  describe('the upgrade is refused with a status and a JSON reason, and no socket', () => {
    for (const bad of BAD_TOKENS) {
      for (const path of PATHS) {
        it(`${bad.name} on ${path} → ${bad.status} ${bad.code}`, async () => {
          const r = await expectRefused(withToken(t.url, path, await bad.token()));
          assert.equal(r.status, bad.status);
          assert.match(r.contentType, /^application\/json/);
          const body = JSON.parse(r.body) as { code: unknown; message: unknown };
          assert.equal(body.code, bad.code);
          assert.equal(typeof body.message, 'string');
          assert.ok((body.message as string).length > 0, 'the refusal explains itself');
        });
      }
    }

    it('a bad token in Authorization: Bearer is refused too', async () => {
      const token = await sdkToken(API_KEY, 'not-the-secret', 'alice', 'auth');
      const r = await expectRefused(`${t.url}/rtc`, { authorization: `Bearer ${token}` });
      assert.equal(r.status, 401);
      assert.equal((JSON.parse(r.body) as { code: string }).code, 'bad_signature');
    });

    it('no room was created by any refused join', async () => {
      assert.equal(t.node.getRoom('auth'), undefined);
    });
  });

  describe('Authorization: Bearer', () => {
    for (const path of PATHS) {
      it(`carries the token on ${path}`, async () => {
        const token = await sdkToken(API_KEY, API_SECRET, `bearer-${path}`, 'bearer');
        const q = path === '/rtc' ? '?auto_subscribe=1&protocol=17' : '';
        const conn = track(
          await SignalConn.open(`${t.url}${path}${q}`, { headers: { authorization: `Bearer ${token}` } }),
        );
        const j = await conn.next('join');
        assert.equal(j.participant?.identity, `bearer-${path}`);
        assert.equal(j.room?.name, 'bearer');
      });
    }
  });

  describe('/validate', () => {
    for (const path of PATHS) {
      it(`${path}/validate answers 200 "success" for a good token`, async () => {
        const token = await t.token('validator', 'validate');
        const res = await fetch(withToken(t.httpUrl, `${path}/validate`, token));
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'success');
        assert.equal(t.node.getRoom('validate'), undefined, 'validating does not create the room');
      });

      it(`${path}/validate accepts the token as Authorization: Bearer`, async () => {
        const token = await t.token('validator', 'validate');
        const res = await fetch(`${t.httpUrl}${path}/validate`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(res.status, 200);
        assert.equal(await res.text(), 'success');
      });

      for (const bad of BAD_TOKENS) {
        it(`${path}/validate with ${bad.name} → ${bad.status} and a message`, async () => {
          const res = await fetch(withToken(t.httpUrl, `${path}/validate`, await bad.token()));
          assert.equal(res.status, bad.status);
          const text = await res.text();
          assert.ok(text.length > 0 && text !== 'success', `a reason, not "${text}"`);
        });
      }
    }
  });

  describe('a good join over /rtc (dual PC)', () => {
    it('gets a binary JoinResponse first, then the subscriber offer', async () => {
      const before = Date.now();
      const { conn, join: j } = await join('alice', 'hello');
      assert.ok(conn.log.length >= 1);
      const first = conn.log[0];
      assert.equal(first.binary, true, 'signal responses are binary protobuf');
      assert.equal(first.msg?.case, 'join', 'the first message is the JoinResponse');

      assert.match(j.participant?.sid ?? '', /^PA_\w+$/);
      assert.equal(j.participant?.identity, 'alice');
      assert.match(j.room?.sid ?? '', /^RM_\w+$/);
      assert.equal(j.room?.name, 'hello');
      assert.equal(j.serverInfo?.protocol, 17);
      assert.ok(j.serverVersion.length > 0);
      assert.ok(j.pingInterval > 0, `pingInterval ${j.pingInterval}`);
      assert.ok(j.pingTimeout > 0, `pingTimeout ${j.pingTimeout}`);
      assert.ok(j.pingTimeout > j.pingInterval, 'a missed ping or two is not a timeout');
      assert.equal(j.subscriberPrimary, true);
      assert.deepEqual(j.otherParticipants, [], 'alone in a new room');
      const joinedAt = Number(j.participant?.joinedAtMs ?? 0n);
      assert.ok(joinedAt >= before - 1000 && joinedAt <= Date.now() + 1000, 'joinedAtMs is now');

      const offer = await conn.next('offer');
      assert.equal(offer.type, 'offer');
      assert.match(offer.sdp, /^v=0\r\n/);
      const offerAt = conn.log.findIndex((r) => r.msg?.case === 'offer');
      assert.ok(offerAt > 0, 'the offer comes after the JoinResponse');
    });

    it("the subscriber offer waits for the client's publisher offer (or 1 s at most)", async () => {
      // livekit-client drops a server offer that arrives before it has built its peer connections
      const { conn } = await join('eager', 'offer-order');
      const joinedAt = Date.now();
      await sleep(300);
      assert.ok(
        !conn.log.some((r) => r.msg?.case === 'offer'),
        'no subscriber offer before the client is ready',
      );
      const pc = new ndc.PeerConnection('offer-order-client', { iceServers: [] });
      try {
        const sdp = await new Promise<string>((resolve) => {
          pc.onLocalDescription((d, type) => {
            if (type === 'offer') resolve(d);
          });
          pc.createDataChannel('_reliable'); // negotiates by itself: an offer with SCTP
        });
        conn.send({ case: 'offer', value: new SessionDescription({ type: 'offer', sdp, id: 1 }) });
        await conn.next('answer');
        const offer = await conn.next('offer', 500);
        assert.match(offer.sdp, /^v=0\r\n/);
        assert.ok(Date.now() - joinedAt < 900, 'it follows the publisher offer, not the fallback');
      } finally {
        pc.close();
      }
      // a client that never offers gets the subscriber offer after the fallback delay
      const { conn: lazy } = await join('lazy', 'offer-order');
      const lazyAt = Date.now();
      await lazy.next('offer', 3000);
      const waited = Date.now() - lazyAt;
      assert.ok(waited >= 800 && waited < 2500, `fallback after ${waited} ms`);
    });

    it("every peer connection presents the node's one DTLS certificate", async () => {
      const fingerprint = (sdp: string) => /^a=fingerprint:(.+)$/m.exec(sdp)?.[1]?.trim();
      const a = await join('fp-a', 'fingerprints');
      const b = await join('fp-b', 'fingerprints');
      const fa = fingerprint((await a.conn.next('offer')).sdp);
      const fb = fingerprint((await b.conn.next('offer')).sdp);
      assert.match(fa ?? '', /^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      assert.equal(fa, fb);
    });

    it('a second participant sees the first; the first gets an update with the second', async () => {
      const a = await join('a', 'pair');
      const b = await join('b', 'pair', { canUpdateOwnMetadata: true });
      const others = b.join.otherParticipants;
      assert.equal(others.length, 1);
      assert.equal(others[0].identity, 'a');
      assert.equal(others[0].sid, a.join.participant?.sid);

      const seen = await a.conn.next('update', 3000, (u) => u.participants.some((p) => p.identity === 'b'));
      const bInfo = seen.participants.find((p) => p.identity === 'b')!;
      assert.equal(bInfo.sid, b.join.participant?.sid);
      assert.notEqual(bInfo.state, ParticipantInfo_State.DISCONNECTED);

      // a change of b's own metadata reaches a with a higher version
      b.conn.send({
        case: 'updateMetadata',
        value: new UpdateParticipantMetadata({ metadata: 'hand-raised', requestId: 7 }),
      });
      const ack = await b.conn.next('requestResponse', 3000, (r) => r.requestId === 7);
      assert.equal(ack.reason, 0, `updateMetadata acknowledged OK (${ack.message})`);
      const changed = await a.conn.next('update', 3000, (u) =>
        u.participants.some((p) => p.identity === 'b' && p.metadata === 'hand-raised'),
      );
      const bChanged = changed.participants.find((p) => p.identity === 'b')!;
      assert.ok(
        bChanged.version > bInfo.version,
        `version increases across updates (${bInfo.version} → ${bChanged.version})`,
      );
    });

    it('ping → pong with the server time', async () => {
      const { conn } = await join('pinger', 'ping');
      const before = BigInt(Date.now());
      const pong = await conn.ping();
      const afterTs = BigInt(Date.now());
      assert.ok(
        pong >= before - 1000n && pong <= afterTs + 1000n,
        `pong ${pong} is a current timestamp in ms`,
      );
    });

    it('pingReq → pongResp echoing lastPingTimestamp', async () => {
      const { conn } = await join('pinger2', 'ping');
      const ts = 1_234_567_890_123n;
      const pong = await conn.pingReq(ts);
      assert.equal(pong.lastPingTimestamp, ts);
      assert.ok(pong.timestamp > 0n);
      const ts2 = BigInt(Date.now());
      assert.equal((await conn.pingReq(ts2)).lastPingTimestamp, ts2, 'each pong answers its own ping');
    });

    it("a client's leave: the other sees it DISCONNECTED and the leaver's socket closes", async () => {
      const a = await join('stayer', 'leave');
      const b = await join('leaver', 'leave');
      await a.conn.next('update', 3000, (u) => u.participants.some((p) => p.identity === 'leaver'));
      b.conn.send({
        case: 'leave',
        value: new LeaveRequest({
          canReconnect: false,
          reason: DisconnectReason.CLIENT_INITIATED,
          action: LeaveRequest_Action.DISCONNECT,
        }),
      });
      const gone = await a.conn.next('update', 3000, (u) =>
        u.participants.some((p) => p.identity === 'leaver' && p.state === ParticipantInfo_State.DISCONNECTED),
      );
      assert.equal(gone.participants.find((p) => p.identity === 'leaver')?.sid, b.join.participant?.sid);
      await b.conn.waitClosed();
      assert.equal(t.node.getRoom('leave')?.byIdentity('leaver'), undefined);
      await a.conn.ping(); // the one who stayed is unaffected
    });

    it('the DISCONNECTED update carries a higher ParticipantInfo.version than the last one', async () => {
      const a = await join('watcher', 'version');
      const b = await join('goer', 'version');
      const joined = await a.conn.next('update', 3000, (u) =>
        u.participants.some((p) => p.identity === 'goer'),
      );
      const v1 = joined.participants.find((p) => p.identity === 'goer')!.version;
      b.conn.send({ case: 'leave', value: new LeaveRequest({ reason: DisconnectReason.CLIENT_INITIATED }) });
      const gone = await a.conn.next('update', 3000, (u) =>
        u.participants.some((p) => p.identity === 'goer' && p.state === ParticipantInfo_State.DISCONNECTED),
      );
      const v2 = gone.participants.find((p) => p.identity === 'goer')!.version;
      assert.ok(v2 > v1, `version ${v1} → ${v2}`);
    });

    it('a duplicate identity join kicks the first: it gets leave DUPLICATE_IDENTITY', async () => {
      const first = await join('twin', 'dup');
      const second = await join('twin', 'dup');
      assert.notEqual(second.join.participant?.sid, first.join.participant?.sid);
      const leave = await first.conn.next('leave', 3000);
      assert.equal(leave.reason, DisconnectReason.DUPLICATE_IDENTITY);
      assert.equal(leave.canReconnect, false);
      await first.conn.waitClosed();
    });

    it('a duplicate identity join closes the first socket and the second takes over', async () => {
      const first = await join('twin2', 'dup2');
      const second = await join('twin2', 'dup2');
      await first.conn.waitClosed();
      await second.conn.ping();
      assert.equal(t.node.getRoom('dup2')?.byIdentity('twin2')?.sid, second.join.participant?.sid);
      assert.equal(t.node.getRoom('dup2')?.participants.size, 1);
    });
  });

  describe('a good join over /rtc/v1 (single PC)', () => {
    it('gets a JoinResponse with subscriberPrimary false', async () => {
      const token = await t.token('single', 'v1');
      const conn = track(await SignalConn.open(rtcV1Url(t.url, token, new JoinRequest({}))));
      const j = await conn.next('join');
      assert.equal(conn.log[0].msg?.case, 'join');
      assert.equal(j.participant?.identity, 'single');
      assert.equal(j.subscriberPrimary, false);
      assert.equal(j.serverInfo?.protocol, 17);
      await conn.ping();
    });
  });

  it('rtcUrl carries the dual-PC query', () => {
    const u = new URL(rtcUrl('ws://127.0.0.1:1', 'tok'));
    assert.equal(u.pathname, '/rtc');
    assert.equal(u.searchParams.get('access_token'), 'tok');
    assert.equal(u.searchParams.get('auto_subscribe'), '1');
    assert.equal(u.searchParams.get('protocol'), '17');
  });
});
