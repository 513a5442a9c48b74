/** The stage state machine through the HTTP API: every role transition and every forbidden one. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatMessage, RoomCard, RoomState } from '../src/api/schemas.ts';
import { forEachBackend, withStack } from './support/each.ts';
import { assertProblem, createRoom, join, roleOf, stagedRoom } from './support/rooms.ts';
import { startStack } from './support/stack.ts';

forEachBackend('rooms', (start, backend) => {
  test('creator moderates; listeners join without publish rights; roles and hand queue', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_a', 'Mod');
      const lis = await s.user('lis_a', 'Lis');
      const room = await createRoom(mod, { topic: 'stage rules' });
      assert.equal(room.me?.role, 'moderator');
      assert.equal(room.status, 'live');
      const mj = await join(mod, room.id);
      assert.equal(mj.state.me?.role, 'moderator');
      assert.match(mj.handle, /^h_[A-Za-z0-9_-]{20,}$/);
      const lj = await join(lis, room.id);
      assert.equal(lj.state.me?.role, 'listener');
      assert.notEqual(lj.handle, mj.handle);
      // hand raise: listener raises; only moderators see the queue
      const raised = await lis.post<RoomState>(`/api/rooms/${room.id}/hand`, { raised: true });
      assert.equal(raised.status, 200);
      assert.equal(raised.body.handQueue.length, 0, 'listeners do not see the hand queue');
      assert.notEqual(raised.body.me?.handRaisedAt, null);
      const modView = await mod.get<RoomState>(`/api/rooms/${room.id}`);
      assert.deepEqual(
        modView.body.handQueue.map((m) => m.user.id),
        [lis.id],
      );
      const lowered = await lis.post<RoomState>(`/api/rooms/${room.id}/hand`, { raised: false });
      assert.equal(lowered.body.me?.handRaisedAt, null);
      // invite → accept → speaker
      const inv = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${lis.id}/invite`);
      assert.equal(inv.status, 200);
      const lisView = await lis.get<RoomState>(`/api/rooms/${room.id}`);
      assert.equal(lisView.body.me?.invitedToSpeak, true);
      const acc = await lis.post<RoomState>(`/api/rooms/${room.id}/invitation`, { accept: true });
      assert.equal(acc.body.me?.role, 'speaker');
      assert.deepEqual(
        acc.body.stage.map((m) => m.user.id),
        [mod.id, lis.id],
      );
      // make moderator, then back to speaker, then to audience
      const mm = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${lis.id}/role`, {
        role: 'moderator',
      });
      assert.equal(roleOf(mm.body, lis.id), 'moderator');
      const ms = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${lis.id}/role`, {
        role: 'speaker',
      });
      assert.equal(roleOf(ms.body, lis.id), 'speaker');
      const ml = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${lis.id}/role`, {
        role: 'listener',
      });
      assert.equal(roleOf(ml.body, lis.id), 'listener');
      assert.equal(ml.body.listenerCount, 1);
      // back in the audience, making them a speaker needs a fresh accepted invitation
      assertProblem(
        await mod.post(`/api/rooms/${room.id}/members/${lis.id}/role`, { role: 'speaker' }),
        409,
        'not_invited_to_speak',
      );
      assertProblem(
        await mod.post(`/api/rooms/${room.id}/members/${lis.id}/role`, { role: 'moderator' }),
        409,
        'not_on_stage',
      );
      // versions increase
      assert.ok(ml.body.version > room.version);
    }));

  test('declining an invitation keeps the listener in the audience', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_d');
      const lis = await s.user('lis_d');
      const room = await createRoom(mod);
      await join(mod, room.id);
      await join(lis, room.id);
      await mod.post(`/api/rooms/${room.id}/members/${lis.id}/invite`);
      const dec = await lis.post<RoomState>(`/api/rooms/${room.id}/invitation`, { accept: false });
      assert.equal(dec.status, 200);
      assert.equal(dec.body.me?.role, 'listener');
      assert.equal(dec.body.me?.invitedToSpeak, false);
      assertProblem(
        await lis.post(`/api/rooms/${room.id}/invitation`, { accept: true }),
        409,
        'no_invitation',
      );
    }));

  test('a listener can do no moderator action and cannot promote itself', () =>
    withStack(start, async (s) => {
      const [mod, spk, lis] = [await s.user('mod_f'), await s.user('spk_f'), await s.user('lis_f')];
      const room = await stagedRoom(mod, spk, lis);
      const id = room.id;
      assertProblem(await lis.post(`/api/rooms/${id}/members/${mod.id}/invite`), 403, 'not_moderator');
      assertProblem(await lis.post(`/api/rooms/${id}/members/${spk.id}/mute`), 403, 'not_moderator');
      assertProblem(await lis.post(`/api/rooms/${id}/members/${spk.id}/remove`, {}), 403, 'not_moderator');
      assertProblem(await lis.post(`/api/rooms/${id}/end`), 403, 'not_moderator');
      assertProblem(await lis.patch(`/api/rooms/${id}/settings`, { handRaise: 'off' }), 403, 'not_moderator');
      for (const role of ['speaker', 'moderator']) {
        assertProblem(
          await lis.post(`/api/rooms/${id}/members/${lis.id}/role`, { role }),
          403,
          'not_moderator',
        );
      }
      assertProblem(
        await lis.post(`/api/rooms/${id}/members/${spk.id}/role`, { role: 'listener' }),
        403,
        'not_moderator',
      );
      assertProblem(await lis.post(`/api/rooms/${id}/invitation`, { accept: true }), 409, 'no_invitation');
      const after = await mod.get<RoomState>(`/api/rooms/${id}`);
      assert.equal(roleOf(after.body, lis.id), 'listener');
      assert.equal(roleOf(after.body, spk.id), 'speaker');
      assert.equal(after.body.status, 'live');
      assert.equal(after.body.handRaise, 'everyone');
    }));

  test('a speaker can do no moderator action, but may step down', () =>
    withStack(start, async (s) => {
      const [mod, spk, lis] = [await s.user('mod_g'), await s.user('spk_g'), await s.user('lis_g')];
      const room = await stagedRoom(mod, spk, lis);
      const id = room.id;
      assertProblem(await spk.post(`/api/rooms/${id}/members/${lis.id}/invite`), 403, 'not_moderator');
      assertProblem(await spk.post(`/api/rooms/${id}/members/${mod.id}/mute`), 403, 'not_moderator');
      assertProblem(
        await spk.post(`/api/rooms/${id}/members/${lis.id}/remove`, { block: true }),
        403,
        'not_moderator',
      );
      assertProblem(await spk.post(`/api/rooms/${id}/end`), 403, 'not_moderator');
      assertProblem(
        await spk.post(`/api/rooms/${id}/members/${spk.id}/role`, { role: 'moderator' }),
        403,
        'not_moderator',
      );
      assertProblem(
        await spk.post(`/api/rooms/${id}/members/${mod.id}/role`, { role: 'listener' }),
        403,
        'not_moderator',
      );
      assertProblem(await spk.post(`/api/rooms/${id}/hand`, { raised: true }), 409, 'already_on_stage');
      const down = await spk.post<RoomState>(`/api/rooms/${id}/members/${spk.id}/role`, { role: 'listener' });
      assert.equal(down.status, 200);
      assert.equal(down.body.me?.role, 'listener');
    }));

  test('moderator actions on unknown members are 404; inviting someone on stage is 409', () =>
    withStack(start, async (s) => {
      const [mod, spk, lis] = [await s.user('mod_h'), await s.user('spk_h'), await s.user('lis_h')];
      const outsider = await s.user('out_h');
      const room = await stagedRoom(mod, spk, lis);
      for (const action of ['invite', 'mute', 'remove']) {
        assertProblem(
          await mod.post(`/api/rooms/${room.id}/members/${outsider.id}/${action}`, {}),
          404,
          'member_not_found',
        );
      }
      assertProblem(
        await mod.post(`/api/rooms/${room.id}/members/nobody/role`, { role: 'listener' }),
        404,
        'member_not_found',
      );
      assertProblem(
        await mod.post(`/api/rooms/${room.id}/members/${spk.id}/invite`),
        409,
        'already_on_stage',
      );
      assertProblem(await mod.post(`/api/rooms/${room.id}/members/${lis.id}/mute`), 409, 'not_on_stage');
      assertProblem(
        await mod.post(`/api/rooms/${room.id}/members/${mod.id}/remove`, {}),
        409,
        'cannot_remove_self',
      );
      // an outsider (not joined) can do nothing
      assertProblem(await outsider.post(`/api/rooms/${room.id}/hand`, { raised: true }), 403, 'not_member');
      assertProblem(await outsider.post(`/api/rooms/${room.id}/chat`, { text: 'hi' }), 403, 'not_member');
      assertProblem(await outsider.get(`/api/rooms/${room.id}/chat`), 403, 'not_member');
      assertProblem(await outsider.post(`/api/rooms/${room.id}/leave`, {}), 404, 'not_member');
      assertProblem(await mod.get('/api/rooms/room_nope'), 404, 'room_not_found');
    }));

  test('hand raise policies: off, followed-only, everyone', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_p');
      const fan = await s.user('fan_p');
      const stranger = await s.user('str_p');
      const room = await createRoom(mod, { handRaise: 'off' });
      await join(mod, room.id);
      await join(fan, room.id);
      await join(stranger, room.id);
      assertProblem(
        await fan.post(`/api/rooms/${room.id}/hand`, { raised: true }),
        403,
        'hand_raise_disabled',
      );
      const set = await mod.patch<RoomState>(`/api/rooms/${room.id}/settings`, { handRaise: 'followed' });
      assert.equal(set.body.handRaise, 'followed');
      // the moderator follows fan, not stranger
      assert.equal((await mod.post(`/api/users/${fan.username}/follow`)).status, 200);
      assertProblem(
        await stranger.post(`/api/rooms/${room.id}/hand`, { raised: true }),
        403,
        'hand_raise_followed_only',
      );
      const ok = await fan.post<RoomState>(`/api/rooms/${room.id}/hand`, { raised: true });
      assert.equal(ok.status, 200);
      assert.notEqual(ok.body.me?.handRaisedAt, null);
      await mod.patch(`/api/rooms/${room.id}/settings`, { handRaise: 'everyone' });
      assert.equal((await stranger.post(`/api/rooms/${room.id}/hand`, { raised: true })).status, 200);
      const q = await mod.get<RoomState>(`/api/rooms/${room.id}`);
      assert.deepEqual(
        q.body.handQueue.map((m) => m.user.id),
        [fan.id, stranger.id],
      );
    }));

  test('closed rooms: only invitees and the creator; hidden from others', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_c');
      const guest = await s.user('guest_c');
      const other = await s.user('other_c');
      const room = await createRoom(mod, { type: 'closed', invite: ['guest_c'], topic: 'secret' });
      assertProblem(await other.post(`/api/rooms/${room.id}/join`), 403, 'not_invited');
      assertProblem(await other.get(`/api/rooms/${room.id}`), 404, 'room_not_found');
      assert.equal(
        (await other.get<RoomCard[]>('/api/hallway')).body.some((r) => r.id === room.id),
        false,
      );
      assert.equal(
        (await guest.get<RoomCard[]>('/api/hallway')).body.some((r) => r.id === room.id),
        true,
      );
      await join(mod, room.id);
      const g = await join(guest, room.id);
      assert.equal(g.state.me?.role, 'listener');
      assertProblem(
        await mod.post('/api/rooms', { topic: 'x', type: 'closed', invite: ['nobody_here'] }),
        404,
        'user_not_found',
      );
    }));

  test('social rooms show in the hallway only to followers of someone on stage', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_s');
      const fan = await s.user('fan_s');
      const other = await s.user('other_s');
      await fan.post(`/api/users/${mod.username}/follow`);
      const room = await createRoom(mod, { type: 'social' });
      await join(mod, room.id);
      const seen = async (c: typeof fan) =>
        (await c.get<RoomCard[]>('/api/hallway')).body.some((r) => r.id === room.id);
      assert.equal(await seen(fan), true);
      assert.equal(await seen(other), false);
      // anyone with the link can join
      assert.equal((await join(other, room.id)).state.me?.role, 'listener');
    }));

  test('removal, removal with block (banned), blocked by a moderator, blocked people hidden', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_b');
      const troll = await s.user('troll_b');
      const pest = await s.user('pest_b');
      const room = await createRoom(mod, { topic: 'moderated' });
      await join(mod, room.id);
      await join(troll, room.id);
      await join(pest, room.id);
      const r1 = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${pest.id}/remove`, {});
      assert.equal(r1.status, 200);
      assert.equal(roleOf(r1.body, pest.id), undefined);
      assert.equal(
        (await join(pest, room.id)).state.me?.role,
        'listener',
        'a plain removal allows rejoining',
      );
      const r2 = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${troll.id}/remove`, {
        block: true,
      });
      assert.equal(r2.status, 200);
      assertProblem(await troll.post(`/api/rooms/${room.id}/join`), 403, 'banned');
      assertProblem(await troll.post(`/api/rooms/${room.id}/hand`, { raised: true }), 403, 'not_member');
      // a user the moderator blocked cannot join
      const blocked = await s.user('blocked_b');
      assert.equal((await mod.post(`/api/users/${blocked.username}/block`)).status, 200);
      assertProblem(await blocked.post(`/api/rooms/${room.id}/join`), 403, 'blocked');
      // and does not see the room in the hallway (the stage has someone who blocked them)
      assert.equal(
        (await blocked.get<RoomCard[]>('/api/hallway')).body.some((r) => r.id === room.id),
        false,
      );
      // a viewer who blocked someone on stage does not see the room either
      const picky = await s.user('picky_b');
      assert.equal(
        (await picky.get<RoomCard[]>('/api/hallway')).body.some((r) => r.id === room.id),
        true,
      );
      await picky.post(`/api/users/${mod.username}/block`);
      assert.equal(
        (await picky.get<RoomCard[]>('/api/hallway')).body.some((r) => r.id === room.id),
        false,
      );
    }));

  test('a full room refuses the next listener; an ended room is gone', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_x');
      const a = await s.user('a_x');
      const b = await s.user('b_x');
      const room = await createRoom(mod, { capacity: 2 });
      await join(mod, room.id);
      await join(a, room.id);
      assertProblem(await b.post(`/api/rooms/${room.id}/join`), 409, 'room_full');
      // rejoining while present is not a new seat
      await join(a, room.id);
      assert.equal((await mod.post(`/api/rooms/${room.id}/end`)).status, 204);
      assertProblem(await b.post(`/api/rooms/${room.id}/join`), 410, 'room_ended');
      assertProblem(await mod.post(`/api/rooms/${room.id}/end`), 410, 'room_ended');
      assertProblem(await a.post(`/api/rooms/${room.id}/hand`, { raised: true }), 410, 'room_ended');
      const st = await mod.get<RoomState>(`/api/rooms/${room.id}`);
      assert.equal(st.body.status, 'ended');
      assert.equal(st.body.stage.length + st.body.audience.length, 0);
      assert.equal(
        (await b.get<RoomCard[]>('/api/hallway')).body.some((r) => r.id === room.id),
        false,
      );
    }));

  test('last moderator leaving promotes the oldest speaker; with no speaker the room ends', () =>
    withStack(start, async (s) => {
      const [mod, spk1, lis] = [await s.user('mod_l'), await s.user('spk_l1'), await s.user('lis_l')];
      const spk2 = await s.user('spk_l2');
      const room = await stagedRoom(mod, spk1, lis);
      await join(spk2, room.id);
      await mod.post(`/api/rooms/${room.id}/members/${spk2.id}/invite`);
      await spk2.post(`/api/rooms/${room.id}/invitation`, { accept: true });
      assert.equal((await mod.post(`/api/rooms/${room.id}/leave`, {})).status, 204);
      const st = await lis.get<RoomState>(`/api/rooms/${room.id}`);
      assert.equal(st.body.status, 'live');
      assert.equal(roleOf(st.body, spk1.id), 'moderator', 'the oldest speaker becomes moderator');
      assert.equal(roleOf(st.body, spk2.id), 'speaker');
      assert.equal(roleOf(st.body, mod.id), undefined);
      // the new moderator steps down: the remaining speaker takes over
      const down = await spk1.post<RoomState>(`/api/rooms/${room.id}/members/${spk1.id}/role`, {
        role: 'listener',
      });
      assert.equal(down.status, 200);
      assert.equal(roleOf(down.body, spk2.id), 'moderator');
      // the last moderator with no speaker cannot step down…
      assertProblem(
        await spk2.post(`/api/rooms/${room.id}/members/${spk2.id}/role`, { role: 'listener' }),
        409,
        'last_moderator',
      );
      // …and leaving ends the room
      assert.equal((await spk2.post(`/api/rooms/${room.id}/leave`, { quiet: true })).status, 204);
      const ended = await lis.get<RoomState>(`/api/rooms/${room.id}`);
      assert.equal(ended.body.status, 'ended');
    }));

  test('a rejoining member keeps their role while the room is live; leave lines and quiet leave', () =>
    withStack(start, async (s) => {
      const [mod, spk, lis] = [
        await s.user('mod_r'),
        await s.user('spk_r', 'Speaker R'),
        await s.user('lis_r', 'Quiet Q'),
      ];
      const room = await stagedRoom(mod, spk, lis);
      assert.equal((await spk.post(`/api/rooms/${room.id}/leave`, {})).status, 204);
      const again = await join(spk, room.id);
      assert.equal(again.state.me?.role, 'speaker');
      assert.equal((await lis.post(`/api/rooms/${room.id}/leave`, { quiet: true })).status, 204);
      const chat = await mod.get<ChatMessage[]>(`/api/rooms/${room.id}/chat`);
      const lines = chat.body.filter((m) => m.user === null).map((m) => m.text);
      assert.ok(lines.includes('Speaker R left'), JSON.stringify(lines));
      assert.ok(!lines.some((l) => l.includes('Quiet Q')), 'a quiet leave writes no line');
      // leave without a body is a loud leave too
      await join(lis, room.id);
      const r = await lis.req('POST', `/api/rooms/${room.id}/leave`);
      assert.equal(r.status, 204);
      const chat2 = await mod.get<ChatMessage[]>(`/api/rooms/${room.id}/chat`);
      assert.ok(chat2.body.some((m) => m.user === null && m.text === 'Quiet Q left'));
    }));

  test('chat keeps the last 100 messages in order; ping notifies the pinged user', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_m');
      const friend = await s.user('friend_m');
      const room = await createRoom(mod, { topic: 'chatty' });
      await join(mod, room.id);
      for (let i = 0; i < 105; i++) {
        const r = await mod.post<ChatMessage>(`/api/rooms/${room.id}/chat`, { text: `msg ${i}` });
        assert.equal(r.status, 200);
      }
      const chat = await mod.get<ChatMessage[]>(`/api/rooms/${room.id}/chat`);
      assert.equal(chat.body.length, 100);
      assert.equal(chat.body[0].text, 'msg 5');
      assert.equal(chat.body[99].text, 'msg 104');
      assert.equal(chat.body[99].user?.id, mod.id);
      assert.equal((await mod.post(`/api/rooms/${room.id}/ping`, { username: friend.username })).status, 204);
      const n =
        await friend.get<
          { kind: string; room: { id: string; topic: string } | null; from: { id: string } }[]
        >('/api/notifications');
      assert.equal(n.body[0].kind, 'room_ping');
      assert.equal(n.body[0].room?.id, room.id);
      assert.equal(n.body[0].from.id, mod.id);
      assertProblem(
        await mod.post(`/api/rooms/${room.id}/ping`, { username: 'ghost_user' }),
        404,
        'user_not_found',
      );
    }));

  test('state survives an app server restart (same database)', async () => {
    const db = await backend.fresh();
    const same = { name: backend.name, fresh: async () => ({ url: db.url, drop: async () => {} }) };
    let roomId = '';
    const s1 = await startStack(same);
    try {
      const mod = await s1.user('mod_restart');
      const room = await createRoom(mod);
      roomId = room.id;
      await join(mod, room.id);
      const lis = await s1.user('lis_restart');
      await join(lis, room.id);
      await mod.post(`/api/rooms/${room.id}/members/${lis.id}/invite`);
    } finally {
      await s1.close();
    }
    const s2 = await startStack(same);
    try {
      assert.equal(s2.app.bootstrapInvite, undefined, 'no bootstrap invite once users exist');
      const mod = await s2.user('mod_restart');
      const lis = await s2.user('lis_restart');
      const st = await lis.get<RoomState>(`/api/rooms/${roomId}`);
      assert.equal(st.body.me?.invitedToSpeak, true);
      const acc = await lis.post<RoomState>(`/api/rooms/${roomId}/invitation`, { accept: true });
      assert.equal(acc.body.me?.role, 'speaker');
      assert.equal(roleOf(acc.body, mod.id), 'moderator');
    } finally {
      await s2.close();
      await db.drop();
    }
  });
});
