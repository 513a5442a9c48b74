/** Notifications (list, mark read, live stream) and reports. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../auth/sessions.ts';
import { userTopic } from '../../realtime/bus.ts';
import { HEARTBEAT_MS, sseResponse } from '../../realtime/sse.ts';
import { listNotifications, markAllRead } from '../../social/notifications.ts';
import { fileReport } from '../../social/reports.ts';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { created, eventStream, jsonBody, noContent, ok } from '../openapi.ts';
import { Notification, ReportRequest } from '../schemas.ts';

export function notificationRoutes(app: Api, s: Services): void {
  const tags = ['notifications'];
  app.openapi(
    createRoute({ method: 'get', path: '/api/notifications', tags, responses: ok(z.array(Notification)) }),
    async (c) => c.json(await listNotifications(s.db, requireUser(c).id), 200),
  );
  app.openapi(
    createRoute({ method: 'post', path: '/api/notifications/read', tags, responses: noContent }),
    async (c) => {
      await markAllRead(s.db, requireUser(c).id);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/notifications/stream',
      tags,
      responses: eventStream('`notification` (Notification)'),
    }),
    async (c) => {
      const user = requireUser(c);
      return sseResponse(c, s.bus, s.streams, userTopic(user.id), s.cfg.sseHeartbeatMs ?? HEARTBEAT_MS, {
        onOpen: (ch) => ch.queue((st) => st.write(': connected\n\n').then(() => undefined)),
        onEvent: (ev, ch) => {
          if (ev.kind === 'notification') ch.send('notification', ev.notification);
        },
      }) as never;
    },
  );

  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/reports',
      tags: ['reports'],
      request: jsonBody(ReportRequest),
      responses: created(z.object({ id: z.string() })),
    }),
    async (c) => c.json({ id: await fileReport(s.db, requireUser(c).id, c.req.valid('json')) }, 201),
  );
}
