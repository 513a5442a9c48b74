// LiveKit's RoomService over Twirp, driven by livekit-server-sdk's RoomServiceClient against a
// real node, with a participant on a real signal socket; then Twirp's error format and
// protobuf bodies over raw fetch.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AddTrackRequest,
  CreateRoomRequest,
  DataPacket_Kind,
  DisconnectReason,
  ListRoomsRequest,
  ListRoomsResponse,
  RequestResponse_Reason,
  Room,
  TrackType,
} from '@livekit/protocol';
import { setLogLevel } from '@sotto/media';
import { RoomServiceClient, TwirpError } from 'livekit-server-sdk';
import { API_KEY, API_SECRET, startTestNode, type TestNode } from '../support/node.ts';
import { joinRoom, rtcUrl, SignalConn } from './signal-client.ts';

setLogLevel('warn');

const ROOM = 'twirp-room';
const OTHER = 'twirp-other';
const PREFIX = '/twirp/livekit.RoomService/';

interface TwirpReply {
  status: number;
  contentType: string;
  body: Buffer;
  json(): { code?: unknown; msg?: unknown } & Record<string, unknown>;
}

/** Expects a Twirp rejection: the SDK's error, with its HTTP status and Twirp code. */
async function rejectsWith(p: Promise<unknown>, status: number, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof TwirpError, `a TwirpError, not ${String(err)}`);
    assert.equal(err.status, status);
    assert.equal(err.code, code);
    return true;
  });
}

describe('RoomService over Twirp', { timeout: 30_000 }, () => {
  let t: TestNode;
  let svc: RoomServiceClient;
  const conns: SignalConn[] = [];

  const join = async (identity: string, room: string, grant = {}) => {
    const j = await joinRoom(t.url, await t.token(identity, room, grant));
    conns.push(j.conn);
    return j;
  };

  /** POST (by default) to a RoomService method with a raw body. */
  const twirp = async (
    method: string,
    body: string | Uint8Array,
    opts: { token?: string | null; contentType?: string; httpMethod?: string } = {},
  ): Promise<TwirpReply> => {
    const headers: Record<string, string> = { 'content-type': opts.contentType ?? 'application/json' };
    const token = opts.token === undefined ? await t.adminToken() : opts.token;
    if (token) headers.authorization = `Bearer ${token}`;
    const httpMethod = opts.httpMethod ?? 'POST';
    const res = await fetch(`${t.httpUrl}${PREFIX}${method}`, {
      method: httpMethod,
      headers,
      body: httpMethod === 'GET' ? undefined : typeof body === 'string' ? body : new Uint8Array(body),
      signal: AbortSignal.timeout(5000),
    });
    const buf = Buffer.from(await res.arrayBuffer());
    return {
      status: res.status,
      contentType: res.headers.get('content-type') ?? '',
      body: buf,
      json: () => JSON.parse(buf.toString('utf8')),
    };
  };

  /** A Twirp error reply: JSON {code, msg} with the given status and code. */
  const assertTwirpError = (r: TwirpReply, status: number, code: string) => {
    assert.equal(r.status, status, `HTTP status (body ${r.body.toString('utf8')})`);
    assert.equal(r.contentType, 'application/json');
    const e = r.json();
    assert.equal(e.code, code);
    assert.equal(typeof e.msg, 'string');
    assert.ok((e.msg as string).length > 0, 'the error explains itself');
  };

  before(async () => {
    t = await startTestNode();
    svc = new RoomServiceClient(t.httpUrl, API_KEY, API_SECRET);
  });

  after(async () => {
    await Promise.all(conns.map((c) => c.shutdown()));
    await t?.stop();
  });

  describe('a room from creation to deletion', () => {
    let alice: Awaited<ReturnType<typeof join>>;

    it('createRoom returns the room with its options', async () => {
      const room = await svc.createRoom({
        name: ROOM,
        emptyTimeout: 120,
        maxParticipants: 5,
        metadata: 'm0',
      });
      assert.match(room.sid, /^RM_/);
      assert.equal(room.name, ROOM);
      assert.equal(room.emptyTimeout, 120);
      assert.equal(room.maxParticipants, 5);
      assert.equal(room.metadata, 'm0');
      assert.equal(room.numParticipants, 0);
      assert.ok(room.creationTime > 0n);
    });

    it('createRoom of an existing name returns that room', async () => {
      const first = (await svc.listRooms([ROOM]))[0];
      const again = await svc.createRoom({ name: ROOM });
      assert.equal(again.sid, first.sid);
      assert.equal(again.metadata, 'm0');
    });

    it('listRooms includes it, and filters by names', async () => {
      await svc.createRoom({ name: OTHER });
      const all = await svc.listRooms();
      const names = all.map((r) => r.name);
      assert.ok(names.includes(ROOM) && names.includes(OTHER), `rooms: ${names.join(', ')}`);
      const one = await svc.listRooms([ROOM]);
      assert.deepEqual(
        one.map((r) => r.name),
        [ROOM],
      );
      assert.equal(one[0].maxParticipants, 5);
      assert.deepEqual(await svc.listRooms(['no-such-room']), []);
      assert.deepEqual(
        (await svc.listRooms([ROOM, OTHER, 'no-such-room'])).map((r) => r.name).sort(),
        [OTHER, ROOM].sort(),
      );
    });

    it('updateRoomMetadata → listRooms shows it', async () => {
      const updated = await svc.updateRoomMetadata(ROOM, 'm1');
      assert.equal(updated.metadata, 'm1');
      assert.equal((await svc.listRooms([ROOM]))[0].metadata, 'm1');
    });

    it('a participant joined over the signal socket is listed and can be got', async () => {
      alice = await join('alice', ROOM);
      assert.equal(alice.join.room?.metadata, 'm1', 'the JoinResponse carries the room metadata');
      assert.equal(alice.join.room?.maxParticipants, 5);
      const list = await svc.listParticipants(ROOM);
      assert.deepEqual(
        list.map((p) => p.identity),
        ['alice'],
      );
      assert.equal(list[0].sid, alice.join.participant?.sid);
      const got = await svc.getParticipant(ROOM, 'alice');
      assert.equal(got.sid, alice.join.participant?.sid);
      assert.equal(got.identity, 'alice');
      assert.equal((await svc.listRooms([ROOM]))[0].numParticipants, 1);
    });

    it('updateRoomMetadata reaches the participant as roomUpdate', async () => {
      await svc.updateRoomMetadata(ROOM, 'm2');
      const upd = await alice.conn.next('roomUpdate', 3000, (u) => u.room?.metadata === 'm2');
      assert.equal(upd.room?.name, ROOM);
    });

    it('updateParticipant (metadata, name, attributes) reaches the participant as update', async () => {
      const before = await svc.getParticipant(ROOM, 'alice');
      const info = await svc.updateParticipant(ROOM, 'alice', {
        metadata: 'pm',
        name: 'Alice A.',
        attributes: { role: 'host', lang: 'en' },
      });
      assert.equal(info.metadata, 'pm');
      assert.equal(info.name, 'Alice A.');
      assert.deepEqual(info.attributes, { role: 'host', lang: 'en' });
      const upd = await alice.conn.next('update', 3000, (u) =>
        u.participants.some((p) => p.identity === 'alice' && p.metadata === 'pm'),
      );
      const me = upd.participants.find((p) => p.identity === 'alice')!;
      assert.equal(me.name, 'Alice A.');
      assert.deepEqual(me.attributes, { role: 'host', lang: 'en' });
      assert.ok(me.version > before.version, `version ${before.version} → ${me.version}`);

      // an empty attribute value deletes the key
      await svc.updateParticipant(ROOM, 'alice', { attributes: { lang: '' } });
      const upd2 = await alice.conn.next('update', 3000, (u) =>
        u.participants.some((p) => p.identity === 'alice' && p.version > me.version),
      );
      assert.deepEqual(upd2.participants.find((p) => p.identity === 'alice')?.attributes, { role: 'host' });
    });

    it('updateParticipant with permission canPublish:false reaches the participant and applies', async () => {
      const info = await svc.updateParticipant(ROOM, 'alice', {
        permission: { canPublish: false, canSubscribe: true, canPublishData: true },
      });
      assert.equal(info.permission?.canPublish, false);
      const upd = await alice.conn.next('update', 3000, (u) =>
        u.participants.some((p) => p.identity === 'alice' && p.permission?.canPublish === false),
      );
      assert.equal(upd.participants.find((p) => p.identity === 'alice')?.permission?.canSubscribe, true);
      alice.conn.send({
        case: 'addTrack',
        value: new AddTrackRequest({ cid: 'mic', name: 'mic', type: TrackType.AUDIO }),
      });
      const res = await alice.conn.next('requestResponse');
      assert.equal(res.reason, RequestResponse_Reason.NOT_ALLOWED, 'publishing is refused from now on');
    });

    it('sendData succeeds, also for destinations that are not in the room', async () => {
      const data = new TextEncoder().encode('hello');
      await svc.sendData(ROOM, data, DataPacket_Kind.RELIABLE, { destinationIdentities: ['alice'] });
      await svc.sendData(ROOM, data, DataPacket_Kind.LOSSY, { destinationIdentities: ['nobody'] });
      await svc.sendData(ROOM, data, DataPacket_Kind.RELIABLE, { destinationSids: ['PA_nosuchparticipant'] });
      await svc.sendData(ROOM, data, DataPacket_Kind.RELIABLE, { topic: 'chat' });
      await alice.conn.ping(); // and the participant is untouched
    });

    it('sendData of more than 60 KiB → invalid_argument', async () => {
      const big = new Uint8Array(64 * 1024);
      await rejectsWith(svc.sendData(ROOM, big, DataPacket_Kind.RELIABLE, {}), 400, 'invalid_argument');
    });

    it('removeParticipant → the participant gets leave and its socket closes', async () => {
      await svc.removeParticipant(ROOM, 'alice');
      const leave = await alice.conn.next('leave');
      assert.equal(leave.reason, DisconnectReason.PARTICIPANT_REMOVED);
      assert.equal(leave.canReconnect, false);
      await alice.conn.waitClosed();
      assert.deepEqual(await svc.listParticipants(ROOM), []);
      await rejectsWith(svc.getParticipant(ROOM, 'alice'), 404, 'not_found');
    });

    it('deleteRoom → listRooms no longer has it; a participant in it gets leave ROOM_DELETED', async () => {
      const bob = await join('bob', ROOM);
      await svc.deleteRoom(ROOM);
      const leave = await bob.conn.next('leave');
      assert.equal(leave.reason, DisconnectReason.ROOM_DELETED);
      await bob.conn.waitClosed();
      const names = (await svc.listRooms()).map((r) => r.name);
      assert.ok(!names.includes(ROOM), `rooms: ${names.join(', ')}`);
      assert.ok(names.includes(OTHER), 'other rooms are untouched');
    });

    it('deleteRoom of a missing room → TwirpError not_found', async () => {
      await rejectsWith(svc.deleteRoom(ROOM), 404, 'not_found');
      await rejectsWith(svc.deleteRoom('never-existed'), 404, 'not_found');
    });
  });

  describe('errors in Twirp JSON format', () => {
    it('no Authorization → 401 unauthenticated', async () => {
      assertTwirpError(await twirp('ListRooms', '{}', { token: null }), 401, 'unauthenticated');
    });

    it('a token signed with another secret → 401 unauthenticated', async () => {
      const bad = new RoomServiceClient(t.httpUrl, API_KEY, 'not-the-secret');
      await rejectsWith(bad.listRooms(), 401, 'unauthenticated');
    });

    it('a token lacking the grant → 403 permission_denied', async () => {
      const joinOnly = await t.token('someone', OTHER);
      assertTwirpError(await twirp('ListRooms', '{}', { token: joinOnly }), 403, 'permission_denied');
      assertTwirpError(
        await twirp('CreateRoom', JSON.stringify({ name: 'x' }), { token: joinOnly }),
        403,
        'permission_denied',
      );
      assertTwirpError(
        await twirp('ListParticipants', JSON.stringify({ room: OTHER }), { token: joinOnly }),
        403,
        'permission_denied',
      );
      assert.equal(t.node.getRoom('x'), undefined);
    });

    it('a roomAdmin token for another room → 403 permission_denied', async () => {
      const forOther = await t.adminToken('some-other-room');
      for (const [method, body] of [
        ['ListParticipants', { room: OTHER }],
        ['GetParticipant', { room: OTHER, identity: 'x' }],
        ['RemoveParticipant', { room: OTHER, identity: 'x' }],
        ['UpdateRoomMetadata', { room: OTHER, metadata: 'hijacked' }],
        ['SendData', { room: OTHER, data: 'aGk=' }],
      ] as const) {
        assertTwirpError(
          await twirp(method, JSON.stringify(body), { token: forOther }),
          403,
          'permission_denied',
        );
      }
      assert.equal(t.node.getRoom(OTHER)?.metadata, '', 'nothing was changed');
      // and the same token is fine for its own room
      const own = await twirp('ListParticipants', JSON.stringify({ room: OTHER }), {
        token: await t.adminToken(OTHER),
      });
      assert.equal(own.status, 200);
    });

    it('an unknown method → 404 bad_route', async () => {
      assertTwirpError(await twirp('NoSuchMethod', '{}'), 404, 'bad_route');
      assertTwirpError(await twirp('toString', '{}'), 404, 'bad_route');
      assertTwirpError(await twirp('__proto__', '{}'), 404, 'bad_route');
      const other = await fetch(`${t.httpUrl}/twirp/livekit.Egress/ListEgress`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${await t.adminToken()}` },
        body: '{}',
      });
      assert.equal(other.status, 404);
      assert.equal(((await other.json()) as { code: string }).code, 'bad_route');
    });

    it('GET → 404 bad_route', async () => {
      assertTwirpError(await twirp('ListRooms', '', { httpMethod: 'GET' }), 404, 'bad_route');
    });

    it('a wrong content-type → 404 bad_route', async () => {
      assertTwirpError(await twirp('ListRooms', '{}', { contentType: 'text/plain' }), 404, 'bad_route');
      assertTwirpError(
        await twirp('ListRooms', '{}', { contentType: 'application/x-www-form-urlencoded' }),
        404,
        'bad_route',
      );
    });

    it('a content-type with parameters is accepted', async () => {
      const r = await twirp('ListRooms', '{}', { contentType: 'application/json; charset=utf-8' });
      assert.equal(r.status, 200);
      assert.ok(Array.isArray(r.json().rooms));
    });

    it('a malformed JSON body → 400 malformed', async () => {
      assertTwirpError(await twirp('CreateRoom', '{"name": '), 400, 'malformed');
      assertTwirpError(await twirp('CreateRoom', '[1,2,3]'), 400, 'malformed');
      assertTwirpError(
        await twirp('CreateRoom', JSON.stringify({ name: 7, emptyTimeout: 'soon' })),
        400,
        'malformed',
      );
    });

    it('a malformed protobuf body → 400 malformed', async () => {
      assertTwirpError(
        await twirp('CreateRoom', new Uint8Array([0x0a, 0x7f, 0x61]), {
          contentType: 'application/protobuf',
        }),
        400,
        'malformed',
      );
    });

    it('a missing required field → 400 invalid_argument', async () => {
      assertTwirpError(await twirp('CreateRoom', '{}'), 400, 'invalid_argument');
      assertTwirpError(await twirp('CreateRoom', ''), 400, 'invalid_argument');
      assertTwirpError(await twirp('DeleteRoom', '{}'), 400, 'invalid_argument');
      assertTwirpError(await twirp('ListParticipants', '{}'), 400, 'invalid_argument');
      assertTwirpError(
        await twirp('GetParticipant', JSON.stringify({ room: OTHER })),
        400,
        'invalid_argument',
      );
    });

    it('a room name over 256 characters → 400 invalid_argument', async () => {
      assertTwirpError(
        await twirp('CreateRoom', JSON.stringify({ name: 'r'.repeat(257) })),
        400,
        'invalid_argument',
      );
    });

    it('an unknown participant or room → 404 not_found', async () => {
      assertTwirpError(
        await twirp('GetParticipant', JSON.stringify({ room: OTHER, identity: 'ghost' })),
        404,
        'not_found',
      );
      assertTwirpError(
        await twirp('RemoveParticipant', JSON.stringify({ room: OTHER, identity: 'ghost' })),
        404,
        'not_found',
      );
      assertTwirpError(
        await twirp('ListParticipants', JSON.stringify({ room: 'ghost-room' })),
        404,
        'not_found',
      );
      await rejectsWith(svc.getParticipant(OTHER, 'ghost'), 404, 'not_found');
      await rejectsWith(svc.updateParticipant(OTHER, 'ghost', { metadata: 'x' }), 404, 'not_found');
      await rejectsWith(svc.mutePublishedTrack(OTHER, 'ghost', 'TR_x', true), 404, 'not_found');
    });

    it('a body over 1 MiB → a Twirp error reply, not a reset connection', async () => {
      const big = JSON.stringify({ name: 'big', metadata: 'x'.repeat(1024 * 1024 + 10) });
      const r = await twirp('CreateRoom', big);
      assert.ok(r.status === 400 || r.status === 413, `status ${r.status}`);
      assert.equal(r.contentType, 'application/json');
      assert.ok(typeof r.json().code === 'string');
    });

    it('the node still serves after an oversized body', async () => {
      const big = JSON.stringify({ name: 'big', metadata: 'x'.repeat(1024 * 1024 + 10) });
      await twirp('CreateRoom', big).catch(() => undefined);
      assert.equal(t.node.getRoom('big'), undefined, 'the oversized request did nothing');
      assert.ok(Array.isArray(await svc.listRooms()));
    });
  });

  describe('protobuf bodies', () => {
    it('CreateRoom with application/protobuf → a binary Room', async () => {
      const req = new CreateRoomRequest({
        name: 'proto-room',
        maxParticipants: 3,
        metadata: 'pb',
        emptyTimeout: 30,
      });
      const r = await twirp('CreateRoom', req.toBinary(), { contentType: 'application/protobuf' });
      assert.equal(r.status, 200);
      assert.equal(r.contentType, 'application/protobuf');
      const room = Room.fromBinary(r.body);
      assert.equal(room.name, 'proto-room');
      assert.match(room.sid, /^RM_/);
      assert.equal(room.maxParticipants, 3);
      assert.equal(room.metadata, 'pb');
      assert.equal(room.emptyTimeout, 30);
    });

    it('ListRooms with application/protobuf → a binary ListRoomsResponse', async () => {
      const req = new ListRoomsRequest({ names: ['proto-room'] });
      const r = await twirp('ListRooms', req.toBinary(), { contentType: 'application/protobuf' });
      assert.equal(r.status, 200);
      assert.equal(r.contentType, 'application/protobuf');
      const res = ListRoomsResponse.fromBinary(r.body);
      assert.deepEqual(
        res.rooms.map((x) => x.name),
        ['proto-room'],
      );
      assert.equal(res.rooms[0].metadata, 'pb');
    });

    it('an empty protobuf body is the empty request', async () => {
      const r = await twirp('ListRooms', new Uint8Array(0), { contentType: 'application/protobuf' });
      assert.equal(r.status, 200);
      const names = ListRoomsResponse.fromBinary(r.body).rooms.map((x) => x.name);
      assert.ok(names.includes('proto-room'));
    });
  });

  describe('maxParticipants', () => {
    it('a full room refuses another join: leave JOIN_FAILURE, then close 4003', async () => {
      await svc.createRoom({ name: 'full-room', maxParticipants: 1 });
      const first = await join('first', 'full-room');
      const conn = await SignalConn.open(rtcUrl(t.url, await t.token('second', 'full-room')));
      conns.push(conn);
      const leave = await conn.next('leave');
      assert.equal(leave.canReconnect, false);
      assert.equal(leave.reason, DisconnectReason.JOIN_FAILURE);
      const closed = await conn.waitClosed();
      assert.equal(closed.code, 4003);
      assert.ok(closed.reason.length > 0);
      assert.deepEqual(
        (await svc.listParticipants('full-room')).map((p) => p.identity),
        ['first'],
      );
      await first.conn.ping();
    });
  });
});
