/** Notifications: stored per user, pushed to their SSE stream as they happen. */
import type { Notification } from '../api/schemas.ts';
import { type RoomBus, userTopic } from '../realtime/bus.ts';
import type { Db } from '../store/db.ts';
import type { NotificationsTable } from '../store/schema.ts';
import { newId } from '../util/ids.ts';
import { summaries } from './users.ts';

const LIST_LIMIT = 100;

async function toApi(db: Db, rows: NotificationsTable[]): Promise<Notification[]> {
  const users = await summaries(
    db,
    rows.flatMap((r) => (r.from_id ? [r.from_id] : [])),
  );
  const roomIds = [...new Set(rows.flatMap((r) => (r.room_id ? [r.room_id] : [])))];
  const rooms = new Map(
    roomIds.length
      ? (await db.selectFrom('rooms').select(['id', 'topic']).where('id', 'in', roomIds).execute()).map(
          (r) => [r.id, r],
        )
      : [],
  );
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    from: (r.from_id && users.get(r.from_id)) || null,
    room: (r.room_id && rooms.get(r.room_id)) || null,
    createdAt: r.created_at,
    read: r.read === 1,
  }));
}

export async function notify(
  db: Db,
  bus: RoomBus,
  n: { userId: string; kind: NotificationsTable['kind']; fromId: string | null; roomId: string | null },
): Promise<void> {
  const row: NotificationsTable = {
    id: newId('n'),
    user_id: n.userId,
    kind: n.kind,
    from_id: n.fromId,
    room_id: n.roomId,
    created_at: Date.now(),
    read: 0,
  };
  await db.insertInto('notifications').values(row).execute();
  const [notification] = await toApi(db, [row]);
  bus.publish(userTopic(n.userId), { kind: 'notification', notification });
}

export async function listNotifications(db: Db, userId: string): Promise<Notification[]> {
  const rows = await db
    .selectFrom('notifications')
    .selectAll()
    .where('user_id', '=', userId)
    .orderBy('created_at', 'desc')
    .limit(LIST_LIMIT)
    .execute();
  return toApi(db, rows);
}

export async function markAllRead(db: Db, userId: string): Promise<void> {
  await db.updateTable('notifications').set({ read: 1 }).where('user_id', '=', userId).execute();
}
