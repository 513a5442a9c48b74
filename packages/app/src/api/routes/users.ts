/** Profiles, follows and blocks. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../auth/sessions.ts';
import { block, blocks, follow, followers, following, unblock, unfollow } from '../../social/graph.ts';
import { profile, userByUsername } from '../../social/users.ts';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { ok, UsernameParam } from '../openapi.ts';
import { Profile, UserSummary } from '../schemas.ts';

const tags = ['users'];

export function userRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/users/{username}',
      tags,
      request: { params: UsernameParam },
      responses: ok(Profile),
    }),
    async (c) => {
      const me = requireUser(c);
      return c.json(
        await profile(s.db, me.id, await userByUsername(s.db, c.req.valid('param').username)),
        200,
      );
    },
  );
  const relation = (
    method: 'post' | 'delete',
    what: 'follow' | 'block',
    act: (me: Parameters<typeof follow>[1], target: Parameters<typeof follow>[2]) => Promise<void>,
  ) =>
    app.openapi(
      createRoute({
        method,
        path: `/api/users/{username}/${what}`,
        tags,
        request: { params: UsernameParam },
        responses: ok(Profile),
      }),
      async (c) => {
        const me = requireUser(c);
        const target = await userByUsername(s.db, c.req.valid('param').username);
        await act(me, target);
        return c.json(await profile(s.db, me.id, target), 200);
      },
    );
  relation('post', 'follow', (me, t) => follow(s, me, t));
  relation('delete', 'follow', (me, t) => unfollow(s.db, me, t));
  relation('post', 'block', (me, t) => block(s.db, me, t));
  relation('delete', 'block', (me, t) => unblock(s.db, me, t));

  for (const which of ['followers', 'following'] as const) {
    app.openapi(
      createRoute({
        method: 'get',
        path: `/api/users/{username}/${which}`,
        tags,
        request: { params: UsernameParam },
        responses: ok(z.array(UserSummary)),
      }),
      async (c) => {
        requireUser(c);
        const u = await userByUsername(s.db, c.req.valid('param').username);
        return c.json(await (which === 'followers' ? followers : following)(s.db, u.id), 200);
      },
    );
  }
  app.openapi(
    createRoute({ method: 'get', path: '/api/blocks', tags, responses: ok(z.array(UserSummary)) }),
    async (c) => c.json(await blocks(s.db, requireUser(c).id), 200),
  );
}
