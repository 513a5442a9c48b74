/** The E2EE key directory: publish this device's public identity keys; look up a user's devices. */
import { createRoute, z } from '@hono/zod-openapi';
import { requireUser } from '../../auth/sessions.ts';
import { listDevices, publishDevice } from '../../social/devices.ts';
import { userByUsername } from '../../social/users.ts';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { jsonBody, ok, UsernameParam } from '../openapi.ts';
import { Device, PublishDeviceRequest } from '../schemas.ts';

const tags = ['devices'];

export function deviceRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/devices',
      tags,
      request: jsonBody(PublishDeviceRequest),
      responses: ok(Device),
    }),
    async (c) => c.json(await publishDevice(s.db, requireUser(c).id, c.req.valid('json')), 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/users/{username}/devices',
      tags,
      request: { params: UsernameParam },
      responses: ok(z.array(Device)),
    }),
    async (c) => {
      requireUser(c);
      const u = await userByUsername(s.db, c.req.valid('param').username);
      return c.json(await listDevices(s.db, u.id), 200);
    },
  );
}
