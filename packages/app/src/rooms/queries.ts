/** Reading rooms and members from the database (the room service's lookups). */
import { notFound } from '../api/problem.ts';
import type { Db } from '../store/db.ts';
import type { MemberRow, RoomRow } from './view.ts';

export async function roomById(db: Db, roomId: string): Promise<RoomRow> {
  const r = await db.selectFrom('rooms').selectAll().where('id', '=', roomId).executeTakeFirst();
  if (!r) throw notFound('room_not_found', 'no such room');
  return r;
}

export function memberRow(db: Db, roomId: string, userId: string): Promise<MemberRow | undefined> {
  return db
    .selectFrom('room_members')
    .selectAll()
    .where('room_id', '=', roomId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
}

/** The member whose current media handle this is (a rejoin replaces the handle). */
export function memberByHandle(db: Db, roomId: string, handle: string): Promise<MemberRow | undefined> {
  return db
    .selectFrom('room_members')
    .selectAll()
    .where('room_id', '=', roomId)
    .where('handle', '=', handle)
    .executeTakeFirst();
}

export function presentMembers(db: Db, roomId: string): Promise<MemberRow[]> {
  return db
    .selectFrom('room_members')
    .selectAll()
    .where('room_id', '=', roomId)
    .where('present', '=', 1)
    .execute();
}

export async function isInvited(db: Db, roomId: string, userId: string): Promise<boolean> {
  return !!(await db
    .selectFrom('room_invites')
    .select('user_id')
    .where('room_id', '=', roomId)
    .where('user_id', '=', userId)
    .executeTakeFirst());
}
