/** The signed-in user's own account: Me, invite codes, the waitlist, API tokens. */
import type { Services } from '../api/env.ts';
import { conflict, notFound } from '../api/problem.ts';
import type { ApiToken, CreatedApiToken, Invite, Me, WaitlistEntry } from '../api/schemas.ts';
import { TOKEN_PREFIX } from '../auth/sessions.ts';
import type { Db } from '../store/db.ts';
import type { ApiTokensTable, InvitesTable, WaitlistTable } from '../store/schema.ts';
import { newId, newInviteCode, newSecret, sha256 } from '../util/ids.ts';
import { summaries, summary, type UserRow } from './users.ts';

export const INVITES_PER_USER = 5;

async function invitesCreated(db: Db, userId: string): Promise<number> {
  const r = await db
    .selectFrom('invites')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('created_by', '=', userId)
    .executeTakeFirst();
  return Number(r?.n ?? 0);
}

export async function meOf(s: Pick<Services, 'db' | 'cfg'>, u: UserRow): Promise<Me> {
  return {
    user: summary(u),
    bio: u.bio,
    invitesLeft: Math.max(0, INVITES_PER_USER - (await invitesCreated(s.db, u.id))),
    dev: s.cfg.dev,
  };
}

async function inviteToApi(db: Db, rows: InvitesTable[]): Promise<Invite[]> {
  const users = await summaries(
    db,
    rows.flatMap((r) => (r.used_by ? [r.used_by] : [])),
  );
  return rows.map((r) => ({
    code: r.code,
    createdAt: r.created_at,
    usedBy: (r.used_by && users.get(r.used_by)) || null,
  }));
}

export async function listInvites(db: Db, userId: string): Promise<Invite[]> {
  const rows = await db
    .selectFrom('invites')
    .selectAll()
    .where('created_by', '=', userId)
    .orderBy('created_at', 'asc')
    .execute();
  return inviteToApi(db, rows);
}

export async function createInvite(db: Db, userId: string | null): Promise<Invite> {
  if (userId && (await invitesCreated(db, userId)) >= INVITES_PER_USER)
    throw conflict('no_invites_left', `each member can create ${INVITES_PER_USER} invites`);
  const row: InvitesTable = {
    code: newInviteCode(),
    created_by: userId,
    used_by: null,
    created_at: Date.now(),
    used_at: null,
  };
  await db.insertInto('invites').values(row).execute();
  return (await inviteToApi(db, [row]))[0];
}

const waitlistToApi = (r: WaitlistTable): WaitlistEntry => ({
  id: r.id,
  username: r.username,
  note: r.note,
  createdAt: r.created_at,
  invited: r.invite_code !== null,
});

export async function joinWaitlist(db: Db, username: string, note: string): Promise<WaitlistEntry> {
  const row: WaitlistTable = { id: newId('wl'), username, note, created_at: Date.now(), invite_code: null };
  await db.insertInto('waitlist').values(row).execute();
  return waitlistToApi(row);
}

export async function listWaitlist(db: Db): Promise<WaitlistEntry[]> {
  const rows = await db.selectFrom('waitlist').selectAll().orderBy('created_at', 'asc').limit(500).execute();
  return rows.map(waitlistToApi);
}

export async function inviteFromWaitlist(db: Db, userId: string, entryId: string): Promise<Invite> {
  const entry = await db.selectFrom('waitlist').selectAll().where('id', '=', entryId).executeTakeFirst();
  if (!entry) throw notFound('waitlist_entry_not_found');
  if (entry.invite_code) throw conflict('already_invited', 'this person was invited already');
  const invite = await createInvite(db, userId);
  await db.updateTable('waitlist').set({ invite_code: invite.code }).where('id', '=', entryId).execute();
  return invite;
}

const tokenToApi = (r: ApiTokensTable): ApiToken => ({
  id: r.id,
  name: r.name,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
});

export async function listTokens(db: Db, userId: string): Promise<ApiToken[]> {
  const rows = await db
    .selectFrom('api_tokens')
    .selectAll()
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .orderBy('created_at', 'asc')
    .execute();
  return rows.map(tokenToApi);
}

export async function createToken(db: Db, userId: string, name: string): Promise<CreatedApiToken> {
  const token = `${TOKEN_PREFIX}${newSecret()}`;
  const row: ApiTokensTable = {
    id: newId('tok'),
    user_id: userId,
    name,
    token_hash: sha256(token),
    created_at: Date.now(),
    last_used_at: null,
    revoked_at: null,
  };
  await db.insertInto('api_tokens').values(row).execute();
  return { ...tokenToApi(row), token };
}

export async function revokeToken(db: Db, userId: string, id: string): Promise<void> {
  const r = await db
    .updateTable('api_tokens')
    .set({ revoked_at: Date.now() })
    .where('id', '=', id)
    .where('user_id', '=', userId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  if (Number(r.numUpdatedRows) === 0) throw notFound('token_not_found');
}
