/** Profiles, follows, blocks, clubs, events, notifications and reports (with retention). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type {
  ClubDetail,
  Event,
  Me,
  Notification,
  Profile,
  RoomState,
  UserSummary,
} from '../src/api/schemas.ts';
import { purgeReports } from '../src/social/reports.ts';
import { forEachBackend, withStack } from './support/each.ts';
import { assertProblem, join } from './support/rooms.ts';

forEachBackend('social', (start, backend) => {
  test('profiles, follow/unfollow, followers/following, block/unblock', () =>
    withStack(start, async (s) => {
      const a = await s.user('ann_s', 'Ann');
      const b = await s.user('bob_s', 'Bob');
      const upd = await a.patch<Me>('/api/me', { displayName: '  Ann A  ', bio: 'hi there' });
      assert.equal(upd.body.user.displayName, 'Ann A');
      assert.equal(upd.body.bio, 'hi there');
      const f = await a.post<Profile>('/api/users/bob_s/follow');
      assert.equal(f.body.isFollowing, true);
      assert.equal(f.body.followers, 1);
      const pb = await b.get<Profile>('/api/users/ann_s');
      assert.equal(pb.body.followsMe, true);
      assert.equal(pb.body.bio, 'hi there');
      assert.equal(pb.body.following, 1);
      assert.deepEqual(
        (await b.get<UserSummary[]>('/api/users/bob_s/followers')).body.map((u) => u.username),
        ['ann_s'],
      );
      assert.deepEqual(
        (await b.get<UserSummary[]>('/api/users/ann_s/following')).body.map((u) => u.username),
        ['bob_s'],
      );
      const n = await b.get<Notification[]>('/api/notifications');
      assert.equal(n.body[0].kind, 'followed');
      assert.equal(n.body[0].from?.username, 'ann_s');
      assert.equal(n.body[0].read, false);
      assert.equal((await b.post('/api/notifications/read')).status, 204);
      assert.equal((await b.get<Notification[]>('/api/notifications')).body[0].read, true);
      const uf = await a.del<Profile>('/api/users/bob_s/follow');
      assert.equal(uf.body.isFollowing, false);
      assertProblem(await a.post('/api/users/ann_s/follow'), 409, 'cannot_follow_self');
      assertProblem(await a.get('/api/users/nobody_here'), 404, 'user_not_found');
      // block removes follows both ways and prevents new ones
      await a.post('/api/users/bob_s/follow');
      await b.post('/api/users/ann_s/follow');
      const bl = await a.post<Profile>('/api/users/bob_s/block');
      assert.equal(bl.body.isBlocked, true);
      assert.equal(bl.body.isFollowing, false);
      assert.equal(bl.body.followsMe, false);
      assertProblem(await b.post('/api/users/ann_s/follow'), 409, 'blocked');
      assert.deepEqual(
        (await a.get<UserSummary[]>('/api/blocks')).body.map((u) => u.username),
        ['bob_s'],
      );
      assertProblem(await a.post('/api/users/ann_s/block'), 409, 'cannot_block_self');
      const ub = await a.del<Profile>('/api/users/bob_s/block');
      assert.equal(ub.body.isBlocked, false);
      assert.deepEqual((await a.get<UserSummary[]>('/api/blocks')).body, []);
    }));

  test('clubs: create (admin), join, leave, make admin', () =>
    withStack(start, async (s) => {
      const a = await s.user('club_a');
      const b = await s.user('club_b');
      const c = await s.user('club_c');
      const club = await a.post<{ id: string; myRole: string; memberCount: number }>('/api/clubs', {
        name: 'Jazz',
      });
      assert.equal(club.body.myRole, 'admin');
      assert.equal(club.body.memberCount, 1);
      const joined = await b.post<ClubDetail>(`/api/clubs/${club.body.id}/join`);
      assert.equal(joined.body.myRole, 'member');
      assert.equal(joined.body.memberCount, 2);
      assertProblem(await b.post(`/api/clubs/${club.body.id}/admins/club_a`), 403, 'not_club_admin');
      assertProblem(await a.post(`/api/clubs/${club.body.id}/admins/club_c`), 404, 'not_member');
      const promoted = await a.post<ClubDetail>(`/api/clubs/${club.body.id}/admins/club_b`);
      assert.equal(promoted.body.members.find((m) => m.username === 'club_b')?.role, 'admin');
      const left = await a.post<ClubDetail>(`/api/clubs/${club.body.id}/leave`);
      assert.equal(left.body.myRole, null);
      assertProblem(await b.post(`/api/clubs/${club.body.id}/leave`), 409, 'last_admin');
      assertProblem(await c.post(`/api/clubs/${club.body.id}/leave`), 404, 'not_member');
      assertProblem(await c.get('/api/clubs/club_nope'), 404, 'club_not_found');
      const list = await c.get<{ id: string; myRole: string | null }[]>('/api/clubs');
      assert.equal(list.body.find((x) => x.id === club.body.id)?.myRole, null);
    }));

  test('events: create, edit (host or club admin only), start the club room, delete', () =>
    withStack(start, async (s) => {
      const host = await s.user('ev_host', 'Host');
      const other = await s.user('ev_other');
      const club = await host.post<{ id: string }>('/api/clubs', { name: 'Book club' });
      const startsAt = Date.now() + 3600_000;
      assertProblem(
        await other.post('/api/events', { title: 'Not mine', startsAt, clubId: club.body.id }),
        403,
        'not_club_admin',
      );
      const ev = await host.post<Event>('/api/events', {
        title: 'Chapter one',
        description: 'we read',
        startsAt,
        clubId: club.body.id,
      });
      assert.equal(ev.status, 200);
      assert.equal(ev.body.club?.name, 'Book club');
      assert.equal(ev.body.host.username, 'ev_host');
      assert.equal(ev.body.roomId, null);
      assertProblem(await other.patch(`/api/events/${ev.body.id}`, { title: 'Hijack' }), 403, 'not_host');
      const ed = await host.patch<Event>(`/api/events/${ev.body.id}`, { title: 'Chapter two' });
      assert.equal(ed.body.title, 'Chapter two');
      assert.equal(ed.body.description, 'we read', 'a partial update keeps the other fields');
      assert.ok((await other.get<Event[]>('/api/events')).body.some((e) => e.id === ev.body.id));
      assertProblem(await other.post(`/api/events/${ev.body.id}/start`), 403, 'not_host');
      const started = await host.post<RoomState>(`/api/events/${ev.body.id}/start`);
      assert.equal(started.status, 200);
      assert.equal(started.body.topic, 'Chapter two');
      assert.equal(started.body.club?.id, club.body.id);
      assert.equal(started.body.me?.role, 'moderator');
      const again = await host.post<RoomState>(`/api/events/${ev.body.id}/start`);
      assert.equal(again.body.id, started.body.id, 'starting twice returns the live room');
      const list = await host.get<Event[]>('/api/events');
      assert.equal(list.body.find((e) => e.id === ev.body.id)?.roomId, started.body.id);
      assertProblem(await other.post('/api/rooms', { topic: 'squat', eventId: ev.body.id }), 403, 'not_host');
      assertProblem(
        await host.post('/api/rooms', { topic: 'x', eventId: 'ev_nope' }),
        404,
        'event_not_found',
      );
      assertProblem(await other.del(`/api/events/${ev.body.id}`), 403, 'not_host');
      assert.equal((await host.del(`/api/events/${ev.body.id}`)).status, 204);
      assertProblem(await host.patch(`/api/events/${ev.body.id}`, { title: 'gone' }), 404, 'event_not_found');
    }));

  test('speak invitations notify; reports are stored and purged after the retention', () =>
    withStack(
      start,
      async (s) => {
        const mod = await s.user('rep_mod');
        const lis = await s.user('rep_lis');
        const room = await mod.post<RoomState>('/api/rooms', { topic: 'reported' });
        await join(mod, room.body.id);
        await join(lis, room.body.id);
        await mod.post(`/api/rooms/${room.body.id}/members/${lis.id}/invite`);
        const n = await lis.get<Notification[]>('/api/notifications');
        assert.equal(n.body[0].kind, 'speak_invite');
        assert.equal(n.body[0].room?.topic, 'reported');
        const r1 = await lis.post<{ id: string }>('/api/reports', {
          target: { type: 'user', username: 'rep_mod' },
          reason: 'harassment',
          text: 'rude',
        });
        assert.equal(r1.status, 201);
        const r2 = await lis.post('/api/reports', {
          target: { type: 'room', roomId: room.body.id },
          reason: 'spam',
        });
        assert.equal(r2.status, 201);
        assertProblem(
          await lis.post('/api/reports', { target: { type: 'room', roomId: 'room_nope' }, reason: 'spam' }),
          404,
          'room_not_found',
        );
        assertProblem(
          await lis.post('/api/reports', { target: { type: 'planet' }, reason: 'spam' }),
          400,
          'invalid_request',
        );
        const db = s.app.services.db;
        // age one report past the retention (7 days in this stack)
        await db
          .updateTable('reports')
          .set({ created_at: Date.now() - 8 * 24 * 3600 * 1000 })
          .where('id', '=', r1.body.id)
          .execute();
        assert.equal(await purgeReports(db, 7), 1);
        const left = await db.selectFrom('reports').select('id').execute();
        assert.equal(left.length, 1);
        assert.notEqual(left[0].id, r1.body.id);
        assert.equal(await purgeReports(db, 7), 0);
      },
      { reportRetentionDays: 7 },
    ));

  test('the retention job purges old reports at start', async () => {
    const { startStack } = await import('./support/stack.ts');
    const { openDatabase } = await import('../src/store/db.ts');
    // a report older than the retention, written before the app server starts
    const fresh = await backend.fresh();
    const url = fresh.url;
    const { db } = await openDatabase(url);
    await db
      .insertInto('users')
      .values({
        id: 'u_1',
        username: 'old_rep',
        display_name: 'x',
        bio: '',
        webauthn_id: 'w1',
        created_at: 0,
      })
      .execute();
    for (const [id, age] of [
      ['rep_old', 100],
      ['rep_new', 10],
    ] as const) {
      await db
        .insertInto('reports')
        .values({
          id,
          reporter_id: 'u_1',
          target_user_id: null,
          target_room_id: null,
          reason: 'spam',
          text: '',
          created_at: Date.now() - age * 24 * 3600 * 1000,
        })
        .execute();
    }
    await db.destroy();
    const s = await startStack({ name: backend.name, fresh: async () => fresh });
    try {
      const rows = await s.app.services.db.selectFrom('reports').select('id').execute();
      assert.deepEqual(
        rows.map((r) => r.id),
        ['rep_new'],
      );
    } finally {
      await s.close();
    }
  });
});
