/**
 * Privacy: during a scripted room session, nothing that crosses between the app server and the
 * media node — media tokens, RoomService (Twirp) requests and responses, webhooks — and nothing the
 * app logs carries an account id, a username, a display name or the room's topic.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setLogLevel } from '@sotto/media';
import { AccessToken } from 'livekit-server-sdk';
import { eventually } from '../../media/test/api/signal-client.ts';
import { Bot } from '../../media/test/bot/bot.ts';
import { API_KEY, API_SECRET } from '../../media/test/support/node.ts';
import type { RoomState } from '../src/api/schemas.ts';
import { BACKENDS } from './support/postgres.ts';
import { corpus, findLeaks } from './support/recorder.ts';
import { createRoom, join } from './support/rooms.ts';
import { startStack } from './support/stack.ts';

const TOPIC = 'Pangolin Conspiracy Hour';

test('the leak check catches a token that carries a name (negative control)', async () => {
  const at = new AccessToken(API_KEY, API_SECRET, { identity: 'h_random', name: 'zz_leaky_user' });
  at.addGrant({ roomJoin: true, room: 'r_random' });
  const jwt = await at.toJwt();
  assert.deepEqual(findLeaks(corpus([jwt]), ['zz_leaky_user']), ['zz_leaky_user']);
  // a topic inside a protobuf/JSON body is caught as well
  assert.deepEqual(findLeaks(corpus([Buffer.from(`\n\x05${TOPIC}`)]), [TOPIC]), [TOPIC]);
  assert.deepEqual(findLeaks(corpus([jwt, 'nothing here']), ['someone_else']), []);
});

for (const backend of BACKENDS) {
  test(`nothing identifying reaches the media node or the logs [${backend.name}]`, async () => {
    const logs: string[] = [];
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const s = await startStack(backend, { record: true });
    const bots: Bot[] = [];
    setLogLevel('debug');
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      logs.push(String(chunk));
      return out(chunk, ...rest);
    }) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      logs.push(String(chunk));
      return err(chunk, ...rest);
    }) as typeof process.stderr.write;
    const tokens: string[] = [];
    const secrets: string[] = [TOPIC];
    try {
      const mod = await s.user('zz_walrus_mod', 'Wilhelmina Walrus');
      const spk = await s.user('zz_narwhal_spk', 'Nikodemus Narwhal');
      const lis = await s.user('zz_okapi_lis', 'Ottoline Okapi');
      secrets.push(mod.id, spk.id, lis.id, 'zz_walrus_mod', 'zz_narwhal_spk', 'zz_okapi_lis');
      secrets.push('Wilhelmina Walrus', 'Nikodemus Narwhal', 'Ottoline Okapi');
      const room = await createRoom(mod, { topic: TOPIC });
      secrets.push(room.id);
      const m = await join(mod, room.id);
      const k = await join(spk, room.id);
      const l = await join(lis, room.id);
      tokens.push(m.mediaToken, k.mediaToken, l.mediaToken);
      bots.push(await Bot.join(m.mediaUrl, m.mediaToken, { publish: true }));
      bots.push(await Bot.join(k.mediaUrl, k.mediaToken));
      bots.push(await Bot.join(l.mediaUrl, l.mediaToken));
      await mod.post(`/api/rooms/${room.id}/members/${spk.id}/invite`);
      await spk.post(`/api/rooms/${room.id}/invitation`, { accept: true });
      await mod.post(`/api/rooms/${room.id}/members/${mod.id}/mute`);
      await mod.post(`/api/rooms/${room.id}/members/${spk.id}/role`, { role: 'moderator' });
      await mod.post(`/api/rooms/${room.id}/chat`, { text: 'hello from Wilhelmina Walrus' });
      await mod.post(`/api/rooms/${room.id}/members/${lis.id}/remove`, { block: true });
      const again = await join(spk, room.id); // a rejoin: the old handle goes stale
      tokens.push(again.mediaToken);
      bots.push(await Bot.join(again.mediaUrl, again.mediaToken));
      await spk
        .post(`/api/rooms/${room.id}/members/${spk.id}/role`, { role: 'listener' })
        .catch(() => undefined);
      bots[0].close();
      await eventually(
        async () =>
          (await spk.get<RoomState>(`/api/rooms/${room.id}`)).body.stage.some((x) => x.user.id === mod.id)
            ? undefined
            : true,
        8000,
        'moderator gone after disconnect',
      );
      await spk.post(`/api/rooms/${room.id}/end`);
      await eventually(
        () => (s.webhooks?.exchanges.some((e) => e.requestBody.includes('room_finished')) ? true : undefined),
        8000,
        'room_finished webhook',
      );
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
      setLogLevel('error');
      for (const b of bots) b.close();
      await s.close();
    }
    const twirp = s.twirp?.exchanges ?? [];
    const hooks = s.webhooks?.exchanges ?? [];
    // the session really exercised every channel
    const methods = new Set(twirp.map((e) => e.path.split('/').pop()));
    for (const method of [
      'UpdateParticipant',
      'GetParticipant',
      'MutePublishedTrack',
      'RemoveParticipant',
      'DeleteRoom',
    ])
      assert.ok(methods.has(method), `expected a ${method} call, saw ${[...methods].join(', ')}`);
    const hookKinds = hooks.map((e) => (JSON.parse(e.requestBody.toString()) as { event: string }).event);
    for (const kind of ['participant_joined', 'participant_left', 'room_finished'])
      assert.ok(hookKinds.includes(kind), `expected a ${kind} webhook, saw ${hookKinds.join(', ')}`);
    assert.ok(logs.length > 0, 'logs were captured');

    const items: (string | Buffer)[] = [...tokens];
    for (const e of [...twirp, ...hooks]) {
      items.push(
        e.path,
        JSON.stringify(e.requestHeaders),
        e.requestBody,
        JSON.stringify(e.responseHeaders),
        e.responseBody,
      );
    }
    assert.deepEqual(findLeaks(corpus(items), secrets), [], 'identifying data crossed to the media node');
    assert.deepEqual(findLeaks(corpus(logs), secrets), [], 'identifying data in the logs');
    // the tokens name only the handle and the random media room
    for (const t of tokens) {
      const claims = JSON.parse(Buffer.from(t.split('.')[1], 'base64url').toString()) as Record<
        string,
        unknown
      >;
      assert.match(String(claims.sub), /^h_/);
      assert.equal(claims.name, undefined);
      assert.equal(claims.metadata, undefined);
      assert.equal(claims.attributes, undefined);
      assert.match(String((claims.video as { room: string }).room), /^r_/);
    }
  });
}
