// Webhooks from a real node to a local receiver, every delivery verified with
// livekit-server-sdk's WebhookReceiver (JWT signed with the API secret, sha256 of the body):
// the room and participant lifecycle events, retries with backoff, a hanging receiver that
// must not slow joins down, and the empty/departure room timeouts.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DisconnectReason, LeaveRequest } from '@livekit/protocol';
import { type MediaNodeConfig, setLogLevel } from '@sotto/media';
import { RoomServiceClient, WebhookReceiver } from 'livekit-server-sdk';
import { API_KEY, API_SECRET, startTestNode, type TestNode } from '../support/node.ts';
import { type Policy, type Receiver, startReceiver, verifier } from '../support/webhook-receiver.ts';
import { eventually, joinRoom, rtcUrl, SignalConn } from './signal-client.ts';

setLogLevel('error');

describe('webhooks', { timeout: 30_000 }, () => {
  const nodes: TestNode[] = [];
  const receivers: Receiver[] = [];
  const conns: SignalConn[] = [];

  const setup = async (policy?: Policy, cfg: Partial<MediaNodeConfig> = {}) => {
    const receiver = await startReceiver(policy);
    receivers.push(receiver);
    const t = await startTestNode({ webhookUrls: [receiver.url], ...cfg });
    nodes.push(t);
    return { t, receiver, svc: new RoomServiceClient(t.httpUrl, API_KEY, API_SECRET) };
  };
  const join = async (t: TestNode, identity: string, room: string) => {
    const j = await joinRoom(t.url, await t.token(identity, room));
    conns.push(j.conn);
    return j;
  };
  const leave = (conn: SignalConn) =>
    conn.send({ case: 'leave', value: new LeaveRequest({ reason: DisconnectReason.CLIENT_INITIATED }) });

  after(async () => {
    await Promise.all(conns.map((c) => c.shutdown()));
    // receivers first: a node's stop() waits (bounded) for deliveries still in flight
    await Promise.all(receivers.map((r) => r.close()));
    await Promise.all(nodes.map((n) => n.stop()));
  });

  describe('the room and participant lifecycle', () => {
    let t: TestNode;
    let receiver: Receiver;
    let svc: RoomServiceClient;
    const ROOM = 'wh-lifecycle';

    it('room_started and participant_joined when the first participant joins', async () => {
      ({ t, receiver, svc } = await setup());
      const alice = await join(t, 'alice', ROOM);
      const started = await receiver.waitFor('room_started', 3000, (e) => e.room?.name === ROOM);
      assert.equal(started.event?.room?.sid, alice.join.room?.sid);
      const joined = await receiver.waitFor(
        'participant_joined',
        3000,
        (e) => e.participant?.identity === 'alice',
      );
      assert.equal(joined.event?.room?.name, ROOM);
      assert.equal(joined.event?.participant?.sid, alice.join.participant?.sid);
      assert.equal(joined.event?.room?.numParticipants, 1);
      assert.equal(joined.contentType, 'application/webhook+json');
    });

    it('participant_left when a participant leaves', async () => {
      const bob = await join(t, 'bob', ROOM);
      await receiver.waitFor('participant_joined', 3000, (e) => e.participant?.identity === 'bob');
      leave(bob.conn);
      const left = await receiver.waitFor('participant_left', 3000, (e) => e.participant?.identity === 'bob');
      assert.equal(left.event?.room?.name, ROOM);
      assert.equal(left.event?.participant?.sid, bob.join.participant?.sid);
    });

    it('room_finished when the room is deleted over RoomService', async () => {
      await svc.deleteRoom(ROOM);
      const finished = await receiver.waitFor('room_finished', 3000, (e) => e.room?.name === ROOM);
      assert.ok(finished.event?.room?.sid.startsWith('RM_'));
      // alice was still in the room: she is reported as having left
      await receiver.waitFor('participant_left', 3000, (e) => e.participant?.identity === 'alice');
    });

    it('every delivery verified: signed with the API secret, sha256 of the body, unique ids', () => {
      assert.ok(receiver.deliveries.length >= 6, `${receiver.deliveries.length} deliveries`);
      for (const d of receiver.deliveries) assert.equal(d.error, undefined, `verification: ${d.error}`);
      const ids = receiver.deliveries.map((d) => d.event?.id);
      assert.equal(new Set(ids).size, ids.length, 'each event has its own id');
      for (const d of receiver.deliveries) {
        assert.match(d.event?.id ?? '', /^EV_/);
        const created = Number(d.event?.createdAt ?? 0n);
        assert.ok(Math.abs(created - Date.now() / 1000) < 60, `createdAt ${created} is now (seconds)`);
      }
      const names = receiver.deliveries.map((d) => d.event?.event).sort();
      assert.deepEqual(names, [
        'participant_joined',
        'participant_joined',
        'participant_left',
        'participant_left',
        'room_finished',
        'room_started',
      ]);
    });

    it('a tampered body or a foreign signature does not verify (the check above can fail)', async () => {
      const d = receiver.deliveries[0];
      await assert.rejects(verifier.receive(d.body.replace(ROOM, 'wh-other'), d.auth));
      await assert.rejects(new WebhookReceiver(API_KEY, 'another-secret').receive(d.body, d.auth));
      await assert.rejects(verifier.receive(d.body, ''));
    });
  });

  describe('delivery', () => {
    it('a receiver answering 500 twice gets the event on the third attempt, with backoff', async () => {
      const { receiver, svc } = await setup((ev, attempt) =>
        ev?.event === 'room_started' && attempt <= 2 ? 500 : 200,
      );
      await svc.createRoom({ name: 'wh-retry' });
      const ok = await receiver.waitFor('room_started', 6000, (e) => e.room?.name === 'wh-retry');
      assert.equal(ok.attempt, 3);
      const tries = receiver.deliveries.filter((d) => d.event?.id === ok.event?.id);
      assert.deepEqual(
        tries.map((d) => [d.attempt, d.status]),
        [
          [1, 500],
          [2, 500],
          [3, 200],
        ],
      );
      for (const d of tries) assert.equal(d.error, undefined, 'each attempt is signed');
      assert.equal(new Set(tries.map((d) => d.body)).size, 1, 'every attempt carries the same event');
      const gap1 = tries[1].at - tries[0].at;
      const gap2 = tries[2].at - tries[1].at;
      assert.ok(gap1 >= 200, `a pause before the first retry (${gap1} ms)`);
      assert.ok(gap2 >= gap1 + 200, `the pause grows (${gap1} ms, then ${gap2} ms)`);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(receiver.accepted('room_started').length, 1, 'no delivery after success');
    });

    it('a receiver that never answers does not slow joins or the API down', async () => {
      const { t, receiver, svc } = await setup(() => 'hang');
      for (let i = 0; i < 3; i++) {
        const started = Date.now();
        const conn = await SignalConn.open(rtcUrl(t.url, await t.token(`hang-${i}`, 'wh-hang')));
        conns.push(conn);
        await conn.next('join', 1000);
        await conn.ping(1000);
        const took = Date.now() - started;
        assert.ok(took < 1000, `join ${i} took ${took} ms`);
      }
      const started = Date.now();
      await svc.createRoom({ name: 'wh-hang-2' });
      assert.ok((await svc.listParticipants('wh-hang')).length === 3);
      assert.ok(Date.now() - started < 1000, 'RoomService calls are not held up either');
      await eventually(
        () => (receiver.deliveries.length >= 4 ? true : undefined),
        3000,
        'the hung deliveries',
      );
      assert.ok(
        receiver.deliveries.every((d) => d.status === 0),
        'none of them was answered',
      );
    });
  });

  describe('room timeouts', () => {
    let t: TestNode;
    let receiver: Receiver;
    let svc: RoomServiceClient;

    it('departureTimeout 1 → room_finished about 1 s after the last participant leaves', async () => {
      ({ t, receiver, svc } = await setup(undefined, { departureTimeout: 1 }));
      const a = await join(t, 'a', 'wh-depart');
      const b = await join(t, 'b', 'wh-depart');
      leave(a.conn);
      await receiver.waitFor('participant_left', 3000, (e) => e.participant?.identity === 'a');
      await new Promise((r) => setTimeout(r, 1300));
      assert.equal(receiver.accepted('room_finished').length, 0, 'not while someone is still in the room');
      assert.ok(t.node.getRoom('wh-depart'));
      leave(b.conn);
      const left = await receiver.waitFor('participant_left', 3000, (e) => e.participant?.identity === 'b');
      const finished = await receiver.waitFor('room_finished', 4000, (e) => e.room?.name === 'wh-depart');
      const after = finished.at - left.at;
      assert.ok(after >= 700 && after <= 2500, `room_finished ${after} ms after the last one left`);
      assert.equal(t.node.getRoom('wh-depart'), undefined);
    });

    it('emptyTimeout 1 on a room created by API and never joined → room_finished', async () => {
      await svc.createRoom({ name: 'wh-empty', emptyTimeout: 1 });
      const started = await receiver.waitFor('room_started', 3000, (e) => e.room?.name === 'wh-empty');
      const finished = await receiver.waitFor('room_finished', 4000, (e) => e.room?.name === 'wh-empty');
      const after = finished.at - started.at;
      assert.ok(after >= 700 && after <= 2500, `room_finished ${after} ms after room_started`);
      assert.deepEqual(await svc.listRooms(['wh-empty']), []);
    });

    it('a room that is joined before its emptyTimeout stays', async () => {
      await svc.createRoom({ name: 'wh-kept', emptyTimeout: 1 });
      const kept = await join(t, 'keeper', 'wh-kept');
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(receiver.accepted('room_finished', (e) => e.room?.name === 'wh-kept').length, 0);
      assert.equal((await svc.listRooms(['wh-kept'])).length, 1);
      await kept.conn.ping();
    });
  });
});
