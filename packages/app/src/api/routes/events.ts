/** Events, and starting an event's room. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../auth/sessions.ts';
import { createEvent, deleteEvent, listEvents, startEvent, updateEvent } from '../../social/clubs.ts';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { IdParam, jsonBody, noContent, ok } from '../openapi.ts';
import { CreateEventRequest, Event, RoomState, UpdateEventRequest } from '../schemas.ts';

const tags = ['events'];

export function eventRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({ method: 'get', path: '/api/events', tags, responses: ok(z.array(Event)) }),
    async (c) => {
      requireUser(c);
      return c.json(await listEvents(s.db), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/events',
      tags,
      request: jsonBody(CreateEventRequest),
      responses: ok(Event),
    }),
    async (c) => c.json(await createEvent(s.db, requireUser(c), c.req.valid('json')), 200),
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/events/{id}',
      tags,
      request: { params: IdParam, ...jsonBody(UpdateEventRequest) },
      responses: ok(Event),
    }),
    async (c) =>
      c.json(await updateEvent(s.db, requireUser(c), c.req.valid('param').id, c.req.valid('json')), 200),
  );
  app.openapi(
    createRoute({
      method: 'delete',
      path: '/api/events/{id}',
      tags,
      request: { params: IdParam },
      responses: noContent,
    }),
    async (c) => {
      await deleteEvent(s.db, requireUser(c), c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/events/{id}/start',
      tags,
      request: { params: IdParam },
      responses: ok(RoomState),
    }),
    async (c) => c.json(await startEvent(s, requireUser(c), c.req.valid('param').id), 200),
  );
}
