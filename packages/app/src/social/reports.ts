/**
 * Reports, with a defined retention: reports older than `reportRetentionDays` are deleted by a job
 * that runs at start and hourly.
 */
import { logger } from '@sotto/media';
import { notFound } from '../api/problem.ts';
import type { ReportRequest } from '../api/schemas.ts';
import type { Db } from '../store/db.ts';
import { newId } from '../util/ids.ts';
import { userByUsername } from './users.ts';

const log = logger('app.reports');
const DAY_MS = 24 * 3600 * 1000;
export const RETENTION_INTERVAL_MS = 3600 * 1000;

export async function fileReport(db: Db, reporterId: string, req: ReportRequest): Promise<string> {
  let targetUser: string | null = null;
  let targetRoom: string | null = null;
  if (req.target.type === 'user') targetUser = (await userByUsername(db, req.target.username)).id;
  else {
    const room = await db
      .selectFrom('rooms')
      .select('id')
      .where('id', '=', req.target.roomId)
      .executeTakeFirst();
    if (!room) throw notFound('room_not_found');
    targetRoom = room.id;
  }
  const id = newId('rep');
  await db
    .insertInto('reports')
    .values({
      id,
      reporter_id: reporterId,
      target_user_id: targetUser,
      target_room_id: targetRoom,
      reason: req.reason,
      text: req.text,
      created_at: Date.now(),
    })
    .execute();
  return id;
}

/** Deletes reports older than the retention; returns how many. */
export async function purgeReports(db: Db, retentionDays: number, now = Date.now()): Promise<number> {
  const r = await db
    .deleteFrom('reports')
    .where('created_at', '<', now - retentionDays * DAY_MS)
    .executeTakeFirst();
  const n = Number(r.numDeletedRows);
  if (n > 0) log.info('reports purged', { count: n, retentionDays });
  return n;
}

/** Runs the purge now and every hour; the timer does not keep the process alive. */
export function startRetention(db: Db, retentionDays: number): { stop(): void; done: Promise<unknown> } {
  const run = () =>
    purgeReports(db, retentionDays).catch((err) =>
      log.warn('report purge failed', { error: err instanceof Error ? err.message : String(err) }),
    );
  const done = run();
  const timer = setInterval(run, RETENTION_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer), done };
}
