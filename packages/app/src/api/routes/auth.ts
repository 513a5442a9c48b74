/** Sign-up and sign-in: passkey ceremonies, the dev sign-in (dev mode on loopback), sign-out. */
import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import {
  loginOptions,
  type Party,
  registrationOptions,
  verifyLogin,
  verifyRegistration,
} from '../../auth/passkeys.ts';
import { endSession, isHttps, startSession } from '../../auth/sessions.ts';
import { meOf } from '../../social/account.ts';
import { newId } from '../../util/ids.ts';
import type { Api } from '../app.ts';
import type { AppEnv, Services } from '../env.ts';
import { jsonBody, noContent, ok } from '../openapi.ts';
import { notFound } from '../problem.ts';
import {
  AuthConfig,
  CeremonyOptions,
  CeremonyVerifyRequest,
  DevSignInRequest,
  Me,
  RegisterOptionsRequest,
} from '../schemas.ts';

const tags = ['auth'];

function party(c: Context<AppEnv>, s: Services): Party {
  const host = c.req.header('host') ?? 'localhost';
  const hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const origin = c.req.header('origin') ?? `${isHttps(c) ? 'https' : 'http'}://${host}`;
  return {
    rpName: s.cfg.rpName ?? 'Sotto',
    rpId: s.cfg.rpId ?? hostname,
    origins: s.cfg.origins ?? [origin],
  };
}

function isLoopback(c: Context<AppEnv>): boolean {
  const addr = c.env?.incoming?.socket?.remoteAddress ?? '';
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1' || addr.startsWith('127.');
}

export function authRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/register/options',
      tags,
      request: jsonBody(RegisterOptionsRequest),
      responses: ok(CeremonyOptions),
    }),
    async (c) => c.json(await registrationOptions(s.db, party(c, s), c.req.valid('json')), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/register/verify',
      tags,
      request: jsonBody(CeremonyVerifyRequest),
      responses: ok(Me),
    }),
    async (c) => {
      const { flowId, response } = c.req.valid('json');
      const user = await verifyRegistration(s.db, party(c, s), flowId, response);
      await startSession(c, s.db, user.id);
      return c.json(await meOf(s, user), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/login/options',
      tags,
      request: jsonBody(z.object({}), false),
      responses: ok(CeremonyOptions),
    }),
    async (c) => c.json(await loginOptions(s.db, party(c, s)), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/login/verify',
      tags,
      request: jsonBody(CeremonyVerifyRequest),
      responses: ok(Me),
    }),
    async (c) => {
      const { flowId, response } = c.req.valid('json');
      const user = await verifyLogin(s.db, party(c, s), flowId, response);
      await startSession(c, s.db, user.id);
      return c.json(await meOf(s, user), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/auth/config',
      tags,
      description: 'Public: whether this caller is offered the dev sign-in (--dev, from loopback).',
      responses: ok(AuthConfig),
    }),
    (c) => c.json({ devSignIn: s.cfg.dev && isLoopback(c) }, 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/auth/dev',
      tags,
      description:
        'Dev sign-in: only when the server runs with --dev, from loopback. Creates the user if new.',
      request: jsonBody(DevSignInRequest),
      responses: ok(Me),
    }),
    async (c) => {
      if (!s.cfg.dev || !isLoopback(c)) throw notFound('not_found', 'no such route');
      const { username, displayName } = c.req.valid('json');
      let user = await s.db
        .selectFrom('users')
        .selectAll()
        .where('username', '=', username)
        .executeTakeFirst();
      if (!user) {
        user = {
          id: newId('u'),
          username,
          display_name: displayName ?? username,
          bio: '',
          webauthn_id: newId('w'),
          created_at: Date.now(),
        };
        await s.db.insertInto('users').values(user).execute();
      }
      await startSession(c, s.db, user.id);
      return c.json(await meOf(s, user), 200);
    },
  );
  app.openapi(
    createRoute({ method: 'post', path: '/api/auth/logout', tags, responses: noContent }),
    async (c) => {
      await endSession(c, s.db);
      return c.body(null, 204);
    },
  );
}
