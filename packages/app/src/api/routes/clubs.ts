/** Clubs. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../auth/sessions.ts';
import { clubDetail, createClub, joinClub, leaveClub, listClubs, makeAdmin } from '../../social/clubs.ts';
import { userByUsername } from '../../social/users.ts';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { IdParam, jsonBody, ok } from '../openapi.ts';
import { Club, ClubDetail, CreateClubRequest } from '../schemas.ts';

const tags = ['clubs'];

export function clubRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({ method: 'get', path: '/api/clubs', tags, responses: ok(z.array(Club)) }),
    async (c) => c.json(await listClubs(s.db, requireUser(c).id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/clubs',
      tags,
      request: jsonBody(CreateClubRequest),
      responses: ok(Club),
    }),
    async (c) => c.json(await createClub(s.db, requireUser(c), c.req.valid('json')), 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/clubs/{id}',
      tags,
      request: { params: IdParam },
      responses: ok(ClubDetail),
    }),
    async (c) => c.json(await clubDetail(s.db, c.req.valid('param').id, requireUser(c).id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/clubs/{id}/join',
      tags,
      request: { params: IdParam },
      responses: ok(ClubDetail),
    }),
    async (c) => c.json(await joinClub(s.db, requireUser(c), c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/clubs/{id}/leave',
      tags,
      request: { params: IdParam },
      responses: ok(ClubDetail),
    }),
    async (c) => c.json(await leaveClub(s.db, requireUser(c), c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/clubs/{id}/admins/{username}',
      tags,
      request: { params: IdParam.extend({ username: z.string().min(1).max(64) }) },
      responses: ok(ClubDetail),
    }),
    async (c) => {
      const me = requireUser(c);
      const { id, username } = c.req.valid('param');
      return c.json(await makeAdmin(s.db, me, id, await userByUsername(s.db, username)), 200);
    },
  );
}
