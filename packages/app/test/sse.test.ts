/** Real-time streams: room events (state, chat, ended, removed) and notifications over SSE. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventually } from '../../media/test/api/signal-client.ts';
import type { ChatMessage, Notification, RoomState } from '../src/api/schemas.ts';
import type { LocalBus } from '../src/realtime/bus.ts';
import { forEachBackend, withStack } from './support/each.ts';
import { assertProblem, createRoom, join } from './support/rooms.ts';
import { openSse } from './support/sse.ts';

forEachBackend('sse', (start) => {
  test('room events: state on connect and after changes, chat, removed, ended; members only', () =>
    withStack(start, async (s) => {
      const mod = await s.user('sse_mod');
      const lis = await s.user('sse_lis');
      const out = await s.user('sse_out');
      const room = await createRoom(mod, { topic: 'streamed' });
      await join(mod, room.id);
      await join(lis, room.id);
      const bus = s.app.services.bus as LocalBus;
      const before = bus.subscriptionCount;
      assertProblem(await out.get(`/api/rooms/${room.id}/events`), 403, 'not_member');
      const modStream = await openSse(`${s.url}/api/rooms/${room.id}/events`, mod.headers());
      const lisStream = await openSse(`${s.url}/api/rooms/${room.id}/events`, lis.headers());
      assert.equal(modStream.status, 200);
      assert.match(modStream.contentType, /^text\/event-stream/);
      const first = (await lisStream.next('state')) as RoomState;
      assert.equal(first.me?.user.id, lis.id);
      await modStream.next('state');
      assert.equal(bus.subscriptionCount, before + 2);
      // a raised hand: the moderator's view has it in the queue, the listener's does not
      await lis.post(`/api/rooms/${room.id}/hand`, { raised: true });
      const modState = (await modStream.next(
        'state',
        (d) => (d as RoomState).handQueue.length === 1,
      )) as RoomState;
      assert.equal(modState.handQueue[0].user.id, lis.id);
      const lisState = (await lisStream.next(
        'state',
        (d) => (d as RoomState).me?.handRaisedAt !== null,
      )) as RoomState;
      assert.deepEqual(lisState.handQueue, []);
      assert.ok(lisState.version > first.version);
      await mod.post(`/api/rooms/${room.id}/chat`, { text: 'welcome' });
      const chat = (await lisStream.next('chat')) as ChatMessage;
      assert.equal(chat.text, 'welcome');
      assert.equal(chat.user?.id, mod.id);
      // removal: the removed member is told and their stream ends; the others see the new state
      await mod.post(`/api/rooms/${room.id}/members/${lis.id}/remove`, { block: true });
      assert.deepEqual(await lisStream.next('removed'), { blocked: true });
      await lisStream.ended;
      await modStream.next('state', (d) => (d as RoomState).listenerCount === 0);
      // ending closes every stream
      await mod.post(`/api/rooms/${room.id}/end`);
      assert.deepEqual(await modStream.next('ended'), {});
      await modStream.ended;
      await eventually(
        () => (bus.subscriptionCount === before ? true : undefined),
        3000,
        'subscriptions cleaned up',
      );
    }));

  test('a client disconnecting drops its subscription', () =>
    withStack(start, async (s) => {
      const mod = await s.user('sse_drop');
      const room = await createRoom(mod);
      await join(mod, room.id);
      const bus = s.app.services.bus as LocalBus;
      const before = bus.subscriptionCount;
      const st = await openSse(`${s.url}/api/rooms/${room.id}/events`, mod.headers());
      await st.next('state');
      assert.equal(bus.subscriptionCount, before + 1);
      st.close();
      await eventually(
        () => (bus.subscriptionCount === before ? true : undefined),
        3000,
        'unsubscribed on disconnect',
      );
      // closing the app server ends the streams still open
      const open = await openSse(`${s.url}/api/rooms/${room.id}/events`, mod.headers());
      await open.next('state');
      assert.equal(s.app.services.streams.size, 1);
      await s.app.close();
      await open.ended;
      assert.equal(s.app.services.streams.size, 0);
    }));

  test('streams send a comment heartbeat', () =>
    withStack(
      start,
      async (s) => {
        const mod = await s.user('sse_beat');
        const room = await createRoom(mod);
        await join(mod, room.id);
        const st = await openSse(`${s.url}/api/rooms/${room.id}/events`, mod.headers());
        await eventually(
          () => (st.comments.filter((c) => c === 'heartbeat').length >= 2 ? true : undefined),
          3000,
          'two heartbeats',
        );
        st.close();
      },
      { sseHeartbeatMs: 100 },
    ));

  test('notifications stream', () =>
    withStack(start, async (s) => {
      const a = await s.user('sse_na');
      const b = await s.user('sse_nb');
      const st = await openSse(`${s.url}/api/notifications/stream`, b.headers());
      assert.equal(st.status, 200);
      await eventually(() => (st.comments.length ? true : undefined), 3000, 'stream open');
      await a.post('/api/users/sse_nb/follow');
      const n = (await st.next('notification')) as Notification;
      assert.equal(n.kind, 'followed');
      assert.equal(n.from?.username, 'sse_na');
      st.close();
      assertProblem(await s.anonymous().get('/api/notifications/stream'), 401, 'unauthenticated');
    }));
});
