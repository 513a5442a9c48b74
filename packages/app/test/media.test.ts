/**
 * The app against a real media node: a real participant (the node-datachannel bot) joins with the
 * token the app issued; stage changes grant and revoke canPublish on the node; mute reaches the
 * node; webhooks reconcile (participant_left → member gone); forged webhooks are refused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AccessToken,
  type ParticipantInfo,
  RoomServiceClient,
  TrackType,
  WebhookReceiver,
} from 'livekit-server-sdk';
import { eventually } from '../../media/test/api/signal-client.ts';
import { Bot } from '../../media/test/bot/bot.ts';
import { API_KEY, API_SECRET } from '../../media/test/support/node.ts';
import type { JoinRoomResponse, RoomState } from '../src/api/schemas.ts';
import { forEachBackend, withStack } from './support/each.ts';
import { assertProblem, createRoom, join, roleOf } from './support/rooms.ts';
import type { Client, Stack } from './support/stack.ts';

function mediaRoomOf(token: string): string {
  const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as {
    video: { room: string };
  };
  return claims.video.room;
}

async function participant(s: Stack, room: string, identity: string): Promise<ParticipantInfo | undefined> {
  const svc = new RoomServiceClient(s.node.httpUrl, API_KEY, API_SECRET);
  return (await svc.listParticipants(room)).find((p) => p.identity === identity);
}

forEachBackend('media', (start) => {
  test('accepting a speaker invite grants canPublish on the media node; moving back revokes it', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_media');
      const lis = await s.user('lis_media');
      const room = await createRoom(mod, { topic: 'live audio' });
      const mj = await join(mod, room.id);
      const lj = await join(lis, room.id);
      const mediaRoom = mediaRoomOf(lj.mediaToken);
      assert.equal(lj.mediaUrl, s.node.url);
      const claims = (t: string) =>
        JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString()) as {
          sub: string;
          exp: number;
          nbf: number;
          video: Record<string, unknown>;
        };
      const lc = claims(lj.mediaToken);
      assert.equal(lc.sub, lj.handle);
      assert.equal(lc.video.canPublish, false);
      assert.equal(lc.video.canSubscribe, true);
      assert.equal(lc.video.canPublishData, true);
      assert.equal(lc.video.roomJoin, true);
      assert.deepEqual(lc.video.canPublishSources, ['microphone']);
      assert.equal(lc.exp - lc.nbf, 6 * 3600);
      assert.equal(claims(mj.mediaToken).video.canPublish, true, 'moderators can publish');
      const bot = await Bot.join(lj.mediaUrl, lj.mediaToken);
      try {
        assert.equal(bot.identity, lj.handle);
        const before = await eventually(
          () => participant(s, mediaRoom, lj.handle),
          5000,
          'listener on media',
        );
        assert.equal(before.permission?.canPublish, false);
        assert.equal(before.permission?.canSubscribe, true);
        assert.equal(before.name, '');
        assert.equal(before.metadata, '');
        await mod.post(`/api/rooms/${room.id}/members/${lis.id}/invite`);
        const acc = await lis.post<RoomState>(`/api/rooms/${room.id}/invitation`, { accept: true });
        assert.equal(acc.body.me?.role, 'speaker');
        await eventually(
          async () =>
            (await participant(s, mediaRoom, lj.handle))?.permission?.canPublish ? true : undefined,
          5000,
          'canPublish granted',
        );
        const back = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${lis.id}/role`, {
          role: 'listener',
        });
        assert.equal(roleOf(back.body, lis.id), 'listener');
        await eventually(
          async () =>
            (await participant(s, mediaRoom, lj.handle))?.permission?.canPublish === false ? true : undefined,
          5000,
          'canPublish revoked',
        );
      } finally {
        bot.close();
      }
    }));

  test('a speaker joining later is granted on participant_joined; mute reaches the node; removal disconnects', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_m2');
      const spk = await s.user('spk_m2');
      const room = await createRoom(mod);
      await join(mod, room.id);
      const first = await join(spk, room.id);
      await mod.post(`/api/rooms/${room.id}/members/${spk.id}/invite`);
      await spk.post(`/api/rooms/${room.id}/invitation`, { accept: true }); // not on media yet: tolerated
      // the token from before the promotion has canPublish false; the webhook reconciles it
      const bot = await Bot.join(first.mediaUrl, first.mediaToken);
      const mediaRoom = mediaRoomOf(first.mediaToken);
      try {
        await eventually(
          async () =>
            (await participant(s, mediaRoom, first.handle))?.permission?.canPublish ? true : undefined,
          5000,
          'canPublish reconciled on participant_joined',
        );
      } finally {
        bot.close();
      }
      // rejoin: a fresh handle and a token that can publish; publish a mic and get muted
      await eventually(
        async () => ((await spk.get<RoomState>(`/api/rooms/${room.id}`)).body.me === null ? true : undefined),
        5000,
        'participant_left marks the member gone',
      );
      const again = await join(spk, room.id);
      assert.notEqual(again.handle, first.handle);
      assert.equal(again.state.me?.role, 'speaker');
      const pub = await Bot.join(again.mediaUrl, again.mediaToken, { publish: true });
      try {
        await eventually(
          async () => ((await participant(s, mediaRoom, again.handle))?.tracks.length ? true : undefined),
          5000,
          'microphone published',
        );
        assert.equal((await mod.post(`/api/rooms/${room.id}/members/${spk.id}/mute`)).status, 200);
        const p = await eventually(
          async () => {
            const info = await participant(s, mediaRoom, again.handle);
            return info?.tracks.find((t) => t.type === TrackType.AUDIO)?.muted ? info : undefined;
          },
          5000,
          'track muted',
        );
        assert.ok(p);
        await mod.post(`/api/rooms/${room.id}/members/${spk.id}/remove`, { block: true });
        await eventually(
          async () => ((await participant(s, mediaRoom, again.handle)) ? undefined : true),
          5000,
          'removed from the media node',
        );
      } finally {
        pub.close();
      }
    }));

  test('participant_left on the last moderator ends the room (quietly)', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_m3', 'Moderator Three');
      const lis = await s.user('lis_m3');
      const room = await createRoom(mod);
      const mj = await join(mod, room.id);
      await join(lis, room.id);
      const bot = await Bot.join(mj.mediaUrl, mj.mediaToken);
      await eventually(
        () => participant(s, mediaRoomOf(mj.mediaToken), mj.handle),
        5000,
        'moderator on media',
      );
      bot.close();
      const st = await eventually(
        async () => {
          const r = await lis.get<RoomState>(`/api/rooms/${room.id}`);
          return r.body.status === 'ended' ? r.body : undefined;
        },
        8000,
        'room ended after the last moderator disconnected',
      );
      assert.equal(st.status, 'ended');
    }));

  /**
   * A moderator's media connection drops and comes back within the reconnect grace — `again`
   * gives the media URL and token it comes back with — and the room must still be live with them
   * as its moderator after the grace.
   */
  const dropsAndComesBack = (
    name: string,
    again: (mod: Client, roomId: string, first: JoinRoomResponse) => Promise<JoinRoomResponse>,
  ) =>
    withStack(
      start,
      async (s) => {
        const mod = await s.user(`mod_${name}`, 'Moderator');
        const lis = await s.user(`lis_${name}`);
        const room = await createRoom(mod);
        const first = await join(mod, room.id);
        await join(lis, room.id);
        const bot = await Bot.join(first.mediaUrl, first.mediaToken);
        const mediaRoom = mediaRoomOf(first.mediaToken);
        await eventually(() => participant(s, mediaRoom, first.handle), 5000, 'moderator on media');
        bot.close(); // the node reports participant_left
        await eventually(
          async () => ((await participant(s, mediaRoom, first.handle)) ? undefined : true),
          5000,
          'old connection gone from the node',
        );
        const j = await again(mod, room.id, first);
        const back = await Bot.join(j.mediaUrl, j.mediaToken);
        try {
          await new Promise((r) => setTimeout(r, 2500)); // past the grace period
          const st = (await lis.get<RoomState>(`/api/rooms/${room.id}`)).body;
          assert.equal(st.status, 'live');
          assert.equal(roleOf(st, mod.id), 'moderator');
        } finally {
          back.close();
        }
      },
      { mediaDisconnectGraceMs: 1500 },
    );

  test('a moderator whose media drops and who rejoins within the grace (a page reload) keeps the room', () =>
    dropsAndComesBack('reload', async (mod, roomId) => {
      const again = await join(mod, roomId); // the reloaded page joins again: a new handle
      assert.equal(again.state.me?.role, 'moderator');
      return again;
    }));

  // livekit-client's full reconnect (after a resume is refused) rejoins with the same token: the
  // same handle leaves and joins again, and its departure must be called off
  test('a moderator whose client reconnects with the same token within the grace keeps the room', () =>
    dropsAndComesBack('reconnect', async (_mod, _roomId, first) => first));

  test('hardened rooms (closed ones by default) mark their media tokens; other rooms do not', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_hard');
      const attributesOf = (t: string) =>
        (JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString()) as { attributes?: unknown })
          .attributes;
      const cases = [
        { body: { topic: 'open default', type: 'open' }, hardened: false },
        { body: { topic: 'closed default', type: 'closed' }, hardened: true },
        { body: { topic: 'open, hardened', type: 'open', hardened: true }, hardened: true },
        { body: { topic: 'closed, not hardened', type: 'closed', hardened: false }, hardened: false },
      ];
      for (const c of cases) {
        const room = await createRoom(mod, c.body);
        assert.equal(room.hardened, c.hardened, c.body.topic);
        const j = await join(mod, room.id);
        assert.equal(j.state.hardened, c.hardened, c.body.topic);
        assert.deepEqual(
          attributesOf(j.mediaToken),
          c.hardened ? { 'sotto.hardened': '1' } : undefined,
          c.body.topic,
        );
      }
    }));

  test('a stale handle is removed from the media node on participant_joined', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_m4');
      const room = await createRoom(mod);
      const first = await join(mod, room.id);
      const second = await join(mod, room.id); // rejoin: the first handle is stale
      const mediaRoom = mediaRoomOf(first.mediaToken);
      // the node may send the bot away before its join completes: that is the point
      const stale = await Bot.join(first.mediaUrl, first.mediaToken).catch(() => undefined);
      try {
        await eventually(
          async () => ((await participant(s, mediaRoom, first.handle)) ? undefined : true),
          5000,
          'stale participant removed',
        );
        // control: the current handle connects and stays
        const current = await Bot.join(second.mediaUrl, second.mediaToken);
        try {
          await eventually(() => participant(s, mediaRoom, second.handle), 5000, 'current handle on media');
          await new Promise((r) => setTimeout(r, 300));
          assert.ok(await participant(s, mediaRoom, second.handle), 'the current handle is not removed');
          assert.equal(current.leaveRequest, undefined);
          const st = await mod.get<RoomState>(`/api/rooms/${room.id}`);
          assert.equal(st.body.me?.handle, second.handle);
          assert.equal(st.body.status, 'live', 'the stale participant leaving did not end the room');
        } finally {
          current.close();
        }
      } finally {
        stale?.close();
      }
    }));

  test('forged webhooks are refused', () =>
    withStack(start, async (s) => {
      const mod = await s.user('mod_m5');
      const room = await createRoom(mod);
      const mj = await join(mod, room.id);
      const body = JSON.stringify({
        event: 'participant_left',
        id: 'EV_forged',
        createdAt: Math.floor(Date.now() / 1000),
        room: { name: mediaRoomOf(mj.mediaToken) },
        participant: { identity: mj.handle },
      });
      const anon = s.anonymous();
      const none = await anon.req('POST', '/api/media/webhook', undefined, {
        body,
        type: 'application/webhook+json',
      });
      assertProblem(none, 401, 'bad_signature');
      // signed with the wrong secret
      const forged = new AccessToken(API_KEY, 'not-the-secret');
      const { createHash } = await import('node:crypto');
      forged.sha256 = createHash('sha256').update(body).digest('base64');
      anon.bearer = '';
      const r = await fetch(`${s.url}/api/media/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/webhook+json', authorization: await forged.toJwt() },
        body,
      });
      assert.equal(r.status, 401);
      // correctly signed but for another body
      const good = new AccessToken(API_KEY, API_SECRET);
      good.sha256 = createHash('sha256').update('{}').digest('base64');
      const r2 = await fetch(`${s.url}/api/media/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/webhook+json', authorization: await good.toJwt() },
        body,
      });
      assert.equal(r2.status, 401);
      // the member is still there
      const st = await mod.get<RoomState>(`/api/rooms/${room.id}`);
      assert.equal(st.body.me?.role, 'moderator');
      assert.equal(st.body.status, 'live');
      // sanity: the receiver accepts a genuinely signed delivery of the same body
      const real = new AccessToken(API_KEY, API_SECRET);
      real.sha256 = createHash('sha256').update(body).digest('base64');
      const auth = await real.toJwt();
      await new WebhookReceiver(API_KEY, API_SECRET).receive(body, auth);
      const r3 = await fetch(`${s.url}/api/media/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/webhook+json', authorization: auth },
        body,
      });
      assert.equal(r3.status, 200);
      // after the reconnect grace (300 ms in tests) the room ends
      await eventually(
        async () =>
          (await mod.get<RoomState>(`/api/rooms/${room.id}`)).body.status === 'ended' ? true : undefined,
        5000,
        'a genuine participant_left of the last moderator ends the room',
      );
    }));
});
