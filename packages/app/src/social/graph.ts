/** Follows and blocks. Blocking also removes any follow between the two people. */
import type { Services } from '../api/env.ts';
import { conflict } from '../api/problem.ts';
import type { UserSummary } from '../api/schemas.ts';
import type { Db } from '../store/db.ts';
import { notify } from './notifications.ts';
import { summary, type UserRow } from './users.ts';

export async function follow(s: Services, me: UserRow, target: UserRow): Promise<void> {
  if (me.id === target.id) throw conflict('cannot_follow_self');
  const blocked = await s.db
    .selectFrom('user_blocks')
    .select('blocker_id')
    .where((eb) =>
      eb.or([
        eb.and([eb('blocker_id', '=', me.id), eb('blocked_id', '=', target.id)]),
        eb.and([eb('blocker_id', '=', target.id), eb('blocked_id', '=', me.id)]),
      ]),
    )
    .executeTakeFirst();
  if (blocked) throw conflict('blocked', 'you cannot follow someone across a block');
  const r = await s.db
    .insertInto('follows')
    .values({ follower_id: me.id, followee_id: target.id, created_at: Date.now() })
    .onConflict((oc) => oc.columns(['follower_id', 'followee_id']).doNothing())
    .executeTakeFirst();
  if (Number(r.numInsertedOrUpdatedRows ?? 0) > 0)
    await notify(s.db, s.bus, { userId: target.id, kind: 'followed', fromId: me.id, roomId: null });
}

export async function unfollow(db: Db, me: UserRow, target: UserRow): Promise<void> {
  await db
    .deleteFrom('follows')
    .where('follower_id', '=', me.id)
    .where('followee_id', '=', target.id)
    .execute();
}

export async function block(db: Db, me: UserRow, target: UserRow): Promise<void> {
  if (me.id === target.id) throw conflict('cannot_block_self');
  await db
    .insertInto('user_blocks')
    .values({ blocker_id: me.id, blocked_id: target.id, created_at: Date.now() })
    .onConflict((oc) => oc.columns(['blocker_id', 'blocked_id']).doNothing())
    .execute();
  await db
    .deleteFrom('follows')
    .where((eb) =>
      eb.or([
        eb.and([eb('follower_id', '=', me.id), eb('followee_id', '=', target.id)]),
        eb.and([eb('follower_id', '=', target.id), eb('followee_id', '=', me.id)]),
      ]),
    )
    .execute();
}

export async function unblock(db: Db, me: UserRow, target: UserRow): Promise<void> {
  await db
    .deleteFrom('user_blocks')
    .where('blocker_id', '=', me.id)
    .where('blocked_id', '=', target.id)
    .execute();
}

export async function followers(db: Db, userId: string): Promise<UserSummary[]> {
  const rows = await db
    .selectFrom('follows')
    .innerJoin('users', 'users.id', 'follows.follower_id')
    .select(['users.id', 'users.username', 'users.display_name'])
    .where('follows.followee_id', '=', userId)
    .orderBy('follows.created_at', 'desc')
    .limit(1000)
    .execute();
  return rows.map(summary);
}

export async function following(db: Db, userId: string): Promise<UserSummary[]> {
  const rows = await db
    .selectFrom('follows')
    .innerJoin('users', 'users.id', 'follows.followee_id')
    .select(['users.id', 'users.username', 'users.display_name'])
    .where('follows.follower_id', '=', userId)
    .orderBy('follows.created_at', 'desc')
    .limit(1000)
    .execute();
  return rows.map(summary);
}

export async function blocks(db: Db, userId: string): Promise<UserSummary[]> {
  const rows = await db
    .selectFrom('user_blocks')
    .innerJoin('users', 'users.id', 'user_blocks.blocked_id')
    .select(['users.id', 'users.username', 'users.display_name'])
    .where('user_blocks.blocker_id', '=', userId)
    .orderBy('user_blocks.created_at', 'desc')
    .execute();
  return rows.map(summary);
}
