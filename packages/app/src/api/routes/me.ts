/** The caller's account: Me, invite codes, the waitlist, API tokens. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../auth/sessions.ts';
import {
  createInvite,
  createToken,
  inviteFromWaitlist,
  joinWaitlist,
  listInvites,
  listTokens,
  listWaitlist,
  meOf,
  revokeToken,
} from '../../social/account.ts';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { IdParam, jsonBody, noContent, ok } from '../openapi.ts';
import {
  ApiToken,
  CreateApiTokenRequest,
  CreatedApiToken,
  Invite,
  Me,
  UpdateMe,
  WaitlistEntry,
  WaitlistRequest,
} from '../schemas.ts';

export function accountRoutes(app: Api, s: Services): void {
  app.openapi(createRoute({ method: 'get', path: '/api/me', tags: ['me'], responses: ok(Me) }), async (c) =>
    c.json(await meOf(s, requireUser(c)), 200),
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/me',
      tags: ['me'],
      request: jsonBody(UpdateMe),
      responses: ok(Me),
    }),
    async (c) => {
      const user = requireUser(c);
      const body = c.req.valid('json');
      const set = {
        ...(body.displayName !== undefined ? { display_name: body.displayName } : {}),
        ...(body.bio !== undefined ? { bio: body.bio } : {}),
      };
      if (Object.keys(set).length)
        await s.db.updateTable('users').set(set).where('id', '=', user.id).execute();
      const fresh = await s.db
        .selectFrom('users')
        .selectAll()
        .where('id', '=', user.id)
        .executeTakeFirstOrThrow();
      return c.json(await meOf(s, fresh), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/api/invites', tags: ['invites'], responses: ok(z.array(Invite)) }),
    async (c) => c.json(await listInvites(s.db, requireUser(c).id), 200),
  );
  app.openapi(
    createRoute({ method: 'post', path: '/api/invites', tags: ['invites'], responses: ok(Invite) }),
    async (c) => c.json(await createInvite(s.db, requireUser(c).id), 200),
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/waitlist',
      tags: ['invites'],
      request: jsonBody(WaitlistRequest),
      responses: ok(WaitlistEntry),
    }),
    async (c) => {
      const { username, note } = c.req.valid('json');
      return c.json(await joinWaitlist(s.db, username, note), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/waitlist',
      tags: ['invites'],
      responses: ok(z.array(WaitlistEntry)),
    }),
    async (c) => {
      requireUser(c);
      return c.json(await listWaitlist(s.db), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/waitlist/{id}/invite',
      tags: ['invites'],
      request: { params: IdParam },
      responses: ok(Invite),
    }),
    async (c) => c.json(await inviteFromWaitlist(s.db, requireUser(c).id, c.req.valid('param').id), 200),
  );

  app.openapi(
    createRoute({ method: 'get', path: '/api/tokens', tags: ['tokens'], responses: ok(z.array(ApiToken)) }),
    async (c) => c.json(await listTokens(s.db, requireUser(c).id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/tokens',
      tags: ['tokens'],
      request: jsonBody(CreateApiTokenRequest),
      responses: ok(CreatedApiToken),
    }),
    async (c) => c.json(await createToken(s.db, requireUser(c).id, c.req.valid('json').name), 200),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/tokens/{id}',
      tags: ['tokens'],
      request: { params: IdParam },
      responses: noContent,
    }),
    async (c) => {
      await revokeToken(s.db, requireUser(c).id, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
}
