/**
 * The HTTP API: an OpenAPIHono app with every route, the caller resolved once per request, and one
 * error path — everything refused or malformed becomes an application/problem+json document.
 */
import { OpenAPIHono } from '@hono/zod-openapi';
import { logger } from '@sotto/media';
import { bodyLimit } from 'hono/body-limit';
import { HTTPException } from 'hono/http-exception';
import { authenticate } from '../auth/sessions.ts';
import type { AppEnv, Services } from './env.ts';
import { AppError, problemResponse } from './problem.ts';
import { authRoutes } from './routes/auth.ts';
import { clubRoutes } from './routes/clubs.ts';
import { deviceRoutes } from './routes/devices.ts';
import { eventRoutes } from './routes/events.ts';
import { accountRoutes } from './routes/me.ts';
import { mediaRoutes } from './routes/media.ts';
import { notificationRoutes } from './routes/notifications.ts';
import { roomRoutes } from './routes/rooms.ts';
import { userRoutes } from './routes/users.ts';

const log = logger('app.api');
export const MAX_BODY_BYTES = 64 * 1024;

export type Api = OpenAPIHono<AppEnv>;

export function createApi(s: Services): Api {
  const app = new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (result.success) return;
      // an anonymous caller of a signed-in route learns that first, not the schema
      if (!c.get('user') && !isPublic(c.req.method, c.req.path))
        return problemResponse(401, 'unauthenticated', 'sign in first');
      const errors = result.error.issues.map((i) => ({
        path: i.path.join('.') || '(body)',
        message: i.message,
      }));
      return problemResponse(400, 'invalid_request', 'the request does not match the schema', errors);
    },
  });

  app.use(
    '/api/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => problemResponse(413, 'body_too_large', `bodies are limited to ${MAX_BODY_BYTES} bytes`),
    }),
  );
  app.use('/api/*', async (c, next) => {
    // the media node's webhooks carry their own signature in Authorization
    c.set('user', c.req.path === '/api/media/webhook' ? null : await authenticate(c, s.db));
    await next();
  });

  authRoutes(app, s);
  accountRoutes(app, s);
  userRoutes(app, s);
  deviceRoutes(app, s);
  clubRoutes(app, s);
  eventRoutes(app, s);
  roomRoutes(app, s);
  notificationRoutes(app, s);
  mediaRoutes(app, s);

  app.doc('/api/openapi.json', {
    openapi: '3.0.0',
    info: { title: 'Sotto app API', version: '0.1.0' },
  });

  app.notFound(() => problemResponse(404, 'not_found', 'no such route'));
  app.onError((err, c) => {
    if (err instanceof AppError) return problemResponse(err.status, err.code, err.message, err.errors);
    if (err instanceof HTTPException) {
      if ((err.status === 400 || err.status === 415) && !c.get('user') && !isPublic(c.req.method, c.req.path))
        return problemResponse(401, 'unauthenticated', 'sign in first');
      const status = err.status;
      if (status === 400) return problemResponse(400, 'malformed_body', err.message);
      if (status === 413) return problemResponse(413, 'body_too_large', err.message);
      if (status === 415) return problemResponse(415, 'unsupported_media_type', 'send application/json');
      return problemResponse(status, 'http_error', err.message);
    }
    log.error('unhandled error', { error: err instanceof Error ? err.message : String(err) });
    return problemResponse(500, 'internal', 'something went wrong');
  });
  return app;
}

/** Routes that need no signed-in user. */
export function isPublic(method: string, path: string): boolean {
  return (
    path.startsWith('/api/auth/') ||
    path === '/api/openapi.json' ||
    path === '/api/media/webhook' ||
    (method === 'POST' && path === '/api/waitlist')
  );
}
