/** What every route handler can reach: the services, and the signed-in user. */
import type { HttpBindings } from '@hono/node-server';
import type { AppConfig } from '../config.ts';
import type { MediaGateway } from '../media/gateway.ts';
import type { RoomBus } from '../realtime/bus.ts';
import type { Channel } from '../realtime/sse.ts';
import type { RoomService } from '../rooms/service.ts';
import type { UserRow } from '../social/users.ts';
import type { Db } from '../store/db.ts';

export interface Services {
  cfg: AppConfig;
  db: Db;
  media: MediaGateway;
  bus: RoomBus;
  rooms: RoomService;
  /** Open SSE streams (ended by close()). */
  streams: Set<Channel>;
}

export interface AppEnv {
  Bindings: HttpBindings;
  Variables: { user: UserRow | null };
}
