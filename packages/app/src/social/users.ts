/** Users as the API shows them: summaries, profiles with the viewer's relations, lookups. */
import { notFound } from '../api/problem.ts';
import type { Profile, UserSummary } from '../api/schemas.ts';
import type { Db } from '../store/db.ts';
import type { UsersTable } from '../store/schema.ts';

export type UserRow = UsersTable;

export const summary = (u: Pick<UserRow, 'id' | 'username' | 'display_name'>): UserSummary => ({
  id: u.id,
  username: u.username,
  displayName: u.display_name,
});

export async function userByUsername(db: Db, username: string): Promise<UserRow> {
  const u = await db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  if (!u) throw notFound('user_not_found', 'no such user');
  return u;
}

export async function summaries(db: Db, ids: string[]): Promise<Map<string, UserSummary>> {
  const out = new Map<string, UserSummary>();
  const unique = [...new Set(ids)];
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await db
      .selectFrom('users')
      .select(['id', 'username', 'display_name'])
      .where('id', 'in', unique.slice(i, i + 500))
      .execute();
    for (const r of rows) out.set(r.id, summary(r));
  }
  return out;
}

export async function profile(db: Db, viewerId: string, u: UserRow): Promise<Profile> {
  const count = async (col: 'follower_id' | 'followee_id') =>
    Number(
      (
        await db
          .selectFrom('follows')
          .select((eb) => eb.fn.countAll().as('n'))
          .where(col, '=', u.id)
          .executeTakeFirst()
      )?.n ?? 0,
    );
  const follows = async (a: string, b: string) =>
    !!(await db
      .selectFrom('follows')
      .select('follower_id')
      .where('follower_id', '=', a)
      .where('followee_id', '=', b)
      .executeTakeFirst());
  const blocked = !!(await db
    .selectFrom('user_blocks')
    .select('blocker_id')
    .where('blocker_id', '=', viewerId)
    .where('blocked_id', '=', u.id)
    .executeTakeFirst());
  return {
    ...summary(u),
    bio: u.bio,
    createdAt: u.created_at,
    followers: await count('followee_id'),
    following: await count('follower_id'),
    isMe: u.id === viewerId,
    isFollowing: await follows(viewerId, u.id),
    followsMe: await follows(u.id, viewerId),
    isBlocked: blocked,
  };
}

/** Ids of everyone `userId` blocked or was blocked by. */
export async function blockRelations(db: Db, userId: string): Promise<Set<string>> {
  const rows = await db
    .selectFrom('user_blocks')
    .select(['blocker_id', 'blocked_id'])
    .where((eb) => eb.or([eb('blocker_id', '=', userId), eb('blocked_id', '=', userId)]))
    .execute();
  return new Set(rows.map((r) => (r.blocker_id === userId ? r.blocked_id : r.blocker_id)));
}
