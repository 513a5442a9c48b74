/** Webhooks from the media node (LiveKit format, signed with the API secret). */
import { createRoute, z } from '@hono/zod-openapi';
import { logger } from '@sotto/media';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { ok } from '../openapi.ts';
import { problemResponse } from '../problem.ts';

const log = logger('app.webhook');

export function mediaRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/media/webhook',
      tags: ['media'],
      description: 'LiveKit-format webhook from the media node; the Authorization JWT must match the body.',
      responses: ok(z.object({ ok: z.boolean() })),
    }),
    async (c) => {
      const body = await c.req.text();
      let event: Awaited<ReturnType<typeof s.media.verifyWebhook>>;
      try {
        event = await s.media.verifyWebhook(body, c.req.header('authorization'));
      } catch (err) {
        log.warn('webhook rejected: bad signature', {
          error: err instanceof Error ? err.message : String(err),
        });
        return problemResponse(401, 'bad_signature', 'webhook signature did not verify') as never;
      }
      await s.rooms.onMediaEvent(event);
      return c.json({ ok: true }, 200);
    },
  );
}
