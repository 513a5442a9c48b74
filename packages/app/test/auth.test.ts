/**
 * Accounts: bootstrap invite, passkey ceremony rejections (bad/used invite, taken username, unknown
 * flow, garbage responses), the dev sign-in gate, sessions, API tokens, and bad input everywhere.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CeremonyOptions, CreatedApiToken, Invite, Me } from '../src/api/schemas.ts';
import { isUniqueViolation } from '../src/store/db.ts';
import { SoftAuthenticator } from './support/authenticator.ts';
import { forEachBackend, withStack } from './support/each.ts';
import { assertProblem } from './support/rooms.ts';

forEachBackend('auth', (start) => {
  test('an empty database yields a bootstrap invite that registration accepts', () =>
    withStack(start, async (s) => {
      assert.match(s.app.bootstrapInvite ?? '', /^[0-9A-Z]{10}$/);
      const anon = s.anonymous();
      const r = await anon.post<CeremonyOptions>('/api/auth/register/options', {
        inviteCode: s.app.bootstrapInvite,
        username: 'first_user',
        displayName: 'First',
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.ok(r.body.flowId);
      const opts = r.body.options as { challenge: string; rp: { id: string }; user: { name: string } };
      assert.equal(opts.rp.id, '127.0.0.1');
      assert.equal(opts.user.name, 'first_user');
      assert.ok(opts.challenge.length > 16);
    }));

  test('registration options reject bad invites and taken usernames', () =>
    withStack(start, async (s) => {
      const anon = s.anonymous();
      assertProblem(
        await anon.post('/api/auth/register/options', {
          inviteCode: 'NOPE-NOPE',
          username: 'new_one',
          displayName: 'N',
        }),
        400,
        'invalid_invite',
      );
      const taken = await s.user('taken_name');
      const inv = await taken.post<Invite>('/api/invites');
      assertProblem(
        await anon.post('/api/auth/register/options', {
          inviteCode: inv.body.code,
          username: 'taken_name',
          displayName: 'T',
        }),
        409,
        'username_taken',
      );
      // a used invite is refused
      await s.app.services.db
        .updateTable('invites')
        .set({ used_by: taken.id, used_at: Date.now() })
        .where('code', '=', inv.body.code)
        .execute();
      assertProblem(
        await anon.post('/api/auth/register/options', {
          inviteCode: inv.body.code,
          username: 'other_one',
          displayName: 'O',
        }),
        400,
        'invalid_invite',
      );
      // schema violations are field errors
      const bad = await anon.post<{ errors: { path: string }[] }>('/api/auth/register/options', {
        inviteCode: 'x',
        username: 'Bad Name!',
        displayName: '',
      });
      assertProblem(bad, 400, 'invalid_request');
      assert.deepEqual(bad.body.errors.map((e) => e.path).sort(), ['displayName', 'inviteCode', 'username']);
    }));

  test('verify rejects unknown flows, garbage responses, and a flow is single use', () =>
    withStack(start, async (s) => {
      const anon = s.anonymous();
      assertProblem(
        await anon.post('/api/auth/register/verify', { flowId: 'flow_nope', response: {} }),
        400,
        'unknown_flow',
      );
      assertProblem(
        await anon.post('/api/auth/login/verify', { flowId: 'flow_nope', response: {} }),
        400,
        'unknown_flow',
      );
      const opts = await anon.post<CeremonyOptions>('/api/auth/register/options', {
        inviteCode: s.app.bootstrapInvite,
        username: 'reg_user',
        displayName: 'Reg',
      });
      const garbage = await anon.post('/api/auth/register/verify', {
        flowId: opts.body.flowId,
        response: {
          id: 'abc',
          rawId: 'abc',
          type: 'public-key',
          response: { clientDataJSON: 'zz', attestationObject: 'zz' },
        },
      });
      assertProblem(garbage, 400, 'passkey_rejected');
      assertProblem(
        await anon.post('/api/auth/register/verify', { flowId: opts.body.flowId, response: {} }),
        400,
        'unknown_flow',
      );
      // a login flow cannot finish a registration
      const login = await anon.post<CeremonyOptions>('/api/auth/login/options', {});
      assert.equal(login.status, 200);
      assert.equal((login.body.options as { rpId: string }).rpId, '127.0.0.1');
      assertProblem(
        await anon.post('/api/auth/register/verify', { flowId: login.body.flowId, response: {} }),
        400,
        'unknown_flow',
      );
      const login2 = await anon.post<CeremonyOptions>('/api/auth/login/options');
      assertProblem(
        await anon.post('/api/auth/login/verify', {
          flowId: login2.body.flowId,
          response: { id: 'unknown-cred' },
        }),
        400,
        'passkey_rejected',
      );
      // the invite was not consumed by the failed attempt
      const still = await s.app.services.db
        .selectFrom('invites')
        .select('used_by')
        .where('code', '=', s.app.bootstrapInvite ?? '')
        .executeTakeFirst();
      assert.equal(still?.used_by, null);
      // expired flows are refused
      const old = await anon.post<CeremonyOptions>('/api/auth/login/options');
      await s.app.services.db
        .updateTable('auth_flows')
        .set({ expires_at: Date.now() - 1 })
        .where('id', '=', old.body.flowId)
        .execute();
      assertProblem(
        await anon.post('/api/auth/login/verify', { flowId: old.body.flowId, response: {} }),
        400,
        'unknown_flow',
      );
    }));

  test('passkeys: register with an invite, sign in, and the invite is spent', () =>
    withStack(start, async (s) => {
      const anon = s.anonymous();
      const auth = new SoftAuthenticator('127.0.0.1', s.url);
      const opts = await anon.post<CeremonyOptions>('/api/auth/register/options', {
        inviteCode: s.app.bootstrapInvite,
        username: 'passkey_user',
        displayName: 'Passkey User',
      });
      const creation = opts.body.options as { challenge: string; user: { id: string } };
      // a response from another origin is refused (and the flow is spent)
      const wrongOrigin = await anon.post('/api/auth/register/verify', {
        flowId: opts.body.flowId,
        response: auth.create(creation, { origin: 'https://evil.example' }),
      });
      assertProblem(wrongOrigin, 400, 'passkey_rejected');
      const opts2 = await anon.post<CeremonyOptions>('/api/auth/register/options', {
        inviteCode: s.app.bootstrapInvite,
        username: 'passkey_user',
        displayName: 'Passkey User',
      });
      const reg = await anon.post<Me>('/api/auth/register/verify', {
        flowId: opts2.body.flowId,
        response: auth.create(opts2.body.options as { challenge: string; user: { id: string } }),
      });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      assert.equal(reg.body.user.username, 'passkey_user');
      assert.equal(reg.body.invitesLeft, 5);
      assert.equal((await anon.get<Me>('/api/me')).body.user.displayName, 'Passkey User');
      // the invite is spent
      assertProblem(
        await s.anonymous().post('/api/auth/register/options', {
          inviteCode: s.app.bootstrapInvite,
          username: 'second_user',
          displayName: 'Second',
        }),
        400,
        'invalid_invite',
      );
      // sign in on a fresh client with the discoverable credential
      const fresh = s.anonymous();
      const lo = await fresh.post<CeremonyOptions>('/api/auth/login/options', {});
      const li = await fresh.post<Me>('/api/auth/login/verify', {
        flowId: lo.body.flowId,
        response: auth.get(lo.body.options as { challenge: string }),
      });
      assert.equal(li.status, 200, JSON.stringify(li.body));
      assert.equal(li.body.user.username, 'passkey_user');
      assert.equal((await fresh.get<Me>('/api/me')).status, 200);
      // replaying the same assertion on a new flow fails (challenge mismatch)
      const lo2 = await s.anonymous().post<CeremonyOptions>('/api/auth/login/options', {});
      const replay = auth.get({ challenge: 'not-the-challenge' });
      assertProblem(
        await s.anonymous().post('/api/auth/login/verify', { flowId: lo2.body.flowId, response: replay }),
        400,
        'passkey_rejected',
      );
    }));

  test('without a configured public media URL, clients are sent to the host they reached', () =>
    withStack(
      start,
      async (s) => {
        const u = await s.user('host_user');
        const room = await u.post<{ id: string }>('/api/rooms', { topic: 'where' });
        const j = await u.post<{ mediaUrl: string }>(`/api/rooms/${room.body.id}/join`);
        assert.equal(j.body.mediaUrl, s.url.replace(/^http/, 'ws'));
      },
      { noPublicUrl: true },
    ));

  test('dev sign-in is 404 without dev mode', () =>
    withStack(
      start,
      async (s) => {
        const r = await s.anonymous().post('/api/auth/dev', { username: 'sneaky' });
        assertProblem(r, 404, 'not_found');
        const me = await s.anonymous().get('/api/me');
        assertProblem(me, 401, 'unauthenticated');
        const cfg = await s.anonymous().get<{ devSignIn: boolean }>('/api/auth/config');
        assert.equal(cfg.status, 200);
        assert.deepEqual(cfg.body, { devSignIn: false });
      },
      { dev: false },
    ));

  test('the auth config offers the dev sign-in in dev mode, from loopback', () =>
    withStack(start, async (s) => {
      const cfg = await s.anonymous().get<{ devSignIn: boolean }>('/api/auth/config');
      assert.deepEqual(cfg.body, { devSignIn: true });
    }));

  test('session cookie attributes; logout ends the session', () =>
    withStack(start, async (s) => {
      const anon = s.anonymous();
      const r = await fetch(`${s.url}/api/auth/dev`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'cookie_user', displayName: 'Cookie' }),
      });
      const cookie = r.headers.get('set-cookie') ?? '';
      assert.match(cookie, /^sotto_session=[\w-]{43};/);
      assert.match(cookie, /HttpOnly/);
      assert.match(cookie, /SameSite=Strict/);
      assert.match(cookie, /Path=\//);
      assert.doesNotMatch(cookie, /Secure/, 'plain http: no Secure flag');
      // behind a TLS-terminating proxy the cookie is Secure
      const tls = await fetch(`${s.url}/api/auth/dev`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-proto': 'https' },
        body: JSON.stringify({ username: 'cookie_user' }),
      });
      assert.match(tls.headers.get('set-cookie') ?? '', /; Secure/);
      anon.cookie = cookie.split(';')[0];
      const me = await anon.get<Me>('/api/me');
      assert.equal(me.body.user.username, 'cookie_user');
      assert.equal(me.body.dev, true);
      assert.equal(me.body.invitesLeft, 5);
      // the cookie is stored hashed
      const secret = anon.cookie.split('=')[1];
      const rows = await s.app.services.db.selectFrom('sessions').select('token_hash').execute();
      assert.ok(rows.every((x) => x.token_hash !== secret));
      assert.equal((await anon.post('/api/auth/logout')).status, 204);
      assertProblem(await anon.get('/api/me'), 401, 'unauthenticated');
    }));

  test('a unique-constraint race is recognised on this database (answered 409, not 500)', () =>
    withStack(start, async (s) => {
      await s.user('taken_name');
      const db = s.app.services.db;
      const row = (id: string, username: string) => ({
        id,
        username,
        display_name: 'x',
        bio: '',
        webauthn_id: `w_${id}`,
        created_at: Date.now(),
      });
      const dup = await db
        .insertInto('users')
        .values(row('u_race', 'taken_name'))
        .execute()
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      assert.ok(dup, 'the duplicate insert failed');
      assert.equal(isUniqueViolation(dup), true, String(dup));
      // control: a different failure (a NOT NULL column left out) is not mistaken for one
      const other = await db
        .insertInto('users')
        .values({ ...row('u_other', 'other_name'), display_name: null as unknown as string })
        .execute()
        .then(
          () => undefined,
          (err: unknown) => err,
        );
      assert.ok(other, 'the bad insert failed');
      assert.equal(isUniqueViolation(other), false, String(other));
    }));

  test('API tokens: create, use as Bearer, list, revoke', () =>
    withStack(start, async (s) => {
      const u = await s.user('token_user');
      const created = await u.post<CreatedApiToken>('/api/tokens', { name: 'my bot' });
      assert.equal(created.status, 200);
      assert.match(created.body.token, /^sotto_/);
      const bot = s.anonymous();
      bot.bearer = created.body.token;
      const me = await bot.get<Me>('/api/me');
      assert.equal(me.status, 200);
      assert.equal(me.body.user.username, 'token_user');
      const list = await u.get<{ id: string; lastUsedAt: number | null; token?: string }[]>('/api/tokens');
      assert.equal(list.body.length, 1);
      assert.equal(list.body[0].token, undefined, 'the token is shown only once');
      assert.notEqual(list.body[0].lastUsedAt, null);
      const stored = await s.app.services.db.selectFrom('api_tokens').select('token_hash').executeTakeFirst();
      assert.notEqual(stored?.token_hash, created.body.token);
      assert.equal((await u.del(`/api/tokens/${created.body.id}`)).status, 204);
      assertProblem(await bot.get('/api/me'), 401, 'unauthenticated');
      assertProblem(await u.del(`/api/tokens/${created.body.id}`), 404, 'token_not_found');
      const forged = s.anonymous();
      forged.bearer = 'sotto_forged';
      assertProblem(await forged.get('/api/me'), 401, 'unauthenticated');
      // someone else cannot revoke my token
      const t2 = await u.post<CreatedApiToken>('/api/tokens', { name: 'second' });
      const other = await s.user('token_other');
      assertProblem(await other.del(`/api/tokens/${t2.body.id}`), 404, 'token_not_found');
    }));

  test('invites: five per user; waitlist entries can be invited', () =>
    withStack(start, async (s) => {
      const u = await s.user('inviter');
      for (let i = 0; i < 5; i++) assert.equal((await u.post('/api/invites')).status, 200);
      assertProblem(await u.post('/api/invites'), 409, 'no_invites_left');
      const me = await u.get<Me>('/api/me');
      assert.equal(me.body.invitesLeft, 0);
      assert.equal((await u.get<Invite[]>('/api/invites')).body.length, 5);
      const anon = s.anonymous();
      const entry = await anon.post<{ id: string; invited: boolean }>('/api/waitlist', {
        username: 'hopeful',
      });
      assert.equal(entry.status, 200);
      assert.equal(entry.body.invited, false);
      assertProblem(await anon.get('/api/waitlist'), 401, 'unauthenticated');
      assertProblem(await u.post(`/api/waitlist/${entry.body.id}/invite`), 409, 'no_invites_left');
      const v = await s.user('voucher');
      const inv = await v.post<Invite>(`/api/waitlist/${entry.body.id}/invite`);
      assert.equal(inv.status, 200);
      assert.equal(inv.body.usedBy, null);
      const list = await v.get<{ id: string; invited: boolean }[]>('/api/waitlist');
      assert.equal(list.body.find((e) => e.id === entry.body.id)?.invited, true);
      assertProblem(await v.post(`/api/waitlist/${entry.body.id}/invite`), 409, 'already_invited');
      assertProblem(await v.post('/api/waitlist/wl_nope/invite'), 404, 'waitlist_entry_not_found');
    }));

  test('bad input: garbage bodies, malformed JSON, wrong types, too large, unknown routes', () =>
    withStack(start, async (s) => {
      const u = await s.user('bad_input');
      const room = await u.post<{ id: string }>('/api/rooms', { topic: 'ok' });
      const routes: [string, string][] = [
        ['POST', '/api/rooms'],
        ['PATCH', '/api/me'],
        ['POST', '/api/tokens'],
        ['POST', '/api/clubs'],
        ['POST', '/api/events'],
        ['POST', '/api/reports'],
        ['POST', `/api/rooms/${room.body.id}/hand`],
        ['POST', `/api/rooms/${room.body.id}/chat`],
        ['POST', '/api/auth/register/options'],
        ['POST', '/api/waitlist'],
      ];
      for (const [method, path] of routes) {
        const malformed = await u.req(method, path, undefined, {
          body: '{"topic": ',
          type: 'application/json',
        });
        assertProblem(malformed, 400, 'malformed_body');
        const wrong = await u.req(method, path, {
          topic: 42,
          displayName: 7,
          name: [],
          text: {},
          raised: 'yes',
          target: 1,
        });
        assertProblem(wrong, 400, 'invalid_request');
        const text = await u.req(method, path, undefined, { body: 'hello', type: 'text/plain' });
        assertProblem(text, 415, 'unsupported_media_type');
      }
      const array = await u.req('POST', '/api/rooms', [1, 2, 3]);
      assertProblem(array, 400, 'invalid_request');
      const big = await u.req('POST', '/api/rooms', undefined, {
        body: JSON.stringify({ topic: 'x'.repeat(70 * 1024) }),
        type: 'application/json',
      });
      assertProblem(big, 413, 'body_too_large');
      assertProblem(await u.get('/api/nope'), 404, 'not_found');
      assertProblem(await u.req('DELETE', '/api/hallway'), 404, 'not_found');
      const longId = await u.get(`/api/rooms/${'x'.repeat(100)}`);
      assertProblem(longId, 400, 'invalid_request');
      const doc = await s.anonymous().get<{ paths: Record<string, unknown> }>('/api/openapi.json');
      assert.equal(doc.status, 200);
      for (const p of [
        '/api/auth/register/options',
        '/api/rooms/{id}/join',
        '/api/rooms/{id}/members/{userId}/role',
        '/api/rooms/{id}/events',
        '/api/notifications/stream',
        '/api/media/webhook',
        '/api/events/{id}/start',
        '/api/clubs/{id}/admins/{username}',
      ])
        assert.ok(doc.body.paths[p], `openapi documents ${p}`);
    }));
});
