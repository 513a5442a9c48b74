/** The hallway: the live rooms a viewer may see, as cards (rule: `policy.inHallway`). */
import type { RoomCard } from '../api/schemas.ts';
import { blockRelations } from '../social/users.ts';
import type { Db } from '../store/db.ts';
import { inHallway } from './policy.ts';
import { card, loadSnapshot } from './view.ts';

const HALLWAY_ROOMS = 500;

export async function hallway(db: Db, viewerId: string): Promise<RoomCard[]> {
  const live = await db
    .selectFrom('rooms')
    .selectAll()
    .where('status', '=', 'live')
    .orderBy('created_at', 'desc')
    .limit(HALLWAY_ROOMS)
    .execute();
  const ids = async (rows: Promise<{ id: string }[]>) => new Set((await rows).map((r) => r.id));
  const blocks = await blockRelations(db, viewerId);
  const following = await ids(
    db.selectFrom('follows').select('followee_id as id').where('follower_id', '=', viewerId).execute(),
  );
  const invited = await ids(
    db.selectFrom('room_invites').select('room_id as id').where('user_id', '=', viewerId).execute(),
  );
  const banned = await ids(
    db.selectFrom('room_bans').select('room_id as id').where('user_id', '=', viewerId).execute(),
  );
  const cards: RoomCard[] = [];
  for (const room of live) {
    if (banned.has(room.id)) continue;
    const s = await loadSnapshot(db, room);
    const stage = s.rows.filter((m) => m.present === 1 && m.role !== 'listener').map((m) => m.user_id);
    const visible = inHallway(room.type, {
      viewerId,
      createdBy: room.created_by,
      member: s.rows.some((m) => m.user_id === viewerId),
      invited: invited.has(room.id),
      stage,
      following,
      blocks,
    });
    if (visible) cards.push(card(s));
  }
  return cards;
}
