/**
 * The Sotto app server: accounts, hallway, clubs, events, rooms and the stage. `createAppServer`
 * opens (and migrates) the database and returns a node HTTP listener for /api/* and the web app.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { logger } from '@sotto/media';
import { createApi } from './api/app.ts';
import type { Services } from './api/env.ts';
import type { AppConfig } from './config.ts';
import { staticHandler } from './http/static.ts';
import { MediaGateway } from './media/gateway.ts';
import { LocalBus, type RoomBus } from './realtime/bus.ts';
import { RedisBus } from './realtime/redis-bus.ts';
import { RoomService } from './rooms/service.ts';
import { createInvite } from './social/account.ts';
import { startRetention } from './social/reports.ts';
import { openDatabase } from './store/db.ts';

export type { AppConfig } from './config.ts';

const log = logger('app');

export interface AppServer {
  /** Node HTTP listener for /api/* and (with webDist) the web app. */
  handle: (req: IncomingMessage, res: ServerResponse) => void;
  close(): Promise<void>;
  /** When the database has no users: a first invite code (the CLI prints it). */
  bootstrapInvite?: string;
  /** The services, for tests and the CLI. */
  readonly services: Services;
}

export async function createAppServer(cfg: AppConfig, opts: { bus?: RoomBus } = {}): Promise<AppServer> {
  const { db } = await openDatabase(cfg.database);
  const media = new MediaGateway(cfg.media);
  const bus = opts.bus ?? (cfg.redisUrl ? await RedisBus.connect(cfg.redisUrl) : new LocalBus());
  const rooms = new RoomService(db, media, bus, cfg.mediaDisconnectGraceMs);
  const services: Services = { cfg, db, media, bus, rooms, streams: new Set() };

  let bootstrapInvite: string | undefined;
  const anyUser = await db.selectFrom('users').select('id').limit(1).executeTakeFirst();
  if (!anyUser) {
    const unused = await db
      .selectFrom('invites')
      .select('code')
      .where('created_by', 'is', null)
      .where('used_by', 'is', null)
      .executeTakeFirst();
    bootstrapInvite = unused?.code ?? (await createInvite(db, null)).code;
  }

  const retention = startRetention(db, cfg.reportRetentionDays ?? 90);
  await retention.done;

  const api = createApi(services);
  const apiListener = getRequestListener(api.fetch);
  const serveStatic = cfg.webDist ? staticHandler(cfg.webDist) : undefined;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? '/';
    if (serveStatic && !(path === '/api' || path.startsWith('/api/') || path.startsWith('/api?'))) {
      serveStatic(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
      return;
    }
    void apiListener(req, res);
  };

  let closing: Promise<void> | undefined;
  log.info('app server ready', { dev: cfg.dev });
  return {
    handle,
    bootstrapInvite,
    services,
    close: () => {
      closing ??= (async () => {
        retention.stop();
        rooms.close();
        for (const stream of [...services.streams]) stream.close();
        await bus.close();
        await db.destroy();
      })();
      return closing;
    },
  };
}
