/**
 * Who is calling: the `sotto_session` cookie (a random 32-byte secret, stored as SHA-256) or
 * `Authorization: Bearer sotto_…` (an API token, stored as SHA-256, revocable).
 */
import type { Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import type { AppEnv } from '../api/env.ts';
import { unauthenticated } from '../api/problem.ts';
import type { UserRow } from '../social/users.ts';
import type { Db } from '../store/db.ts';
import { newSecret, sha256 } from '../util/ids.ts';

export const SESSION_COOKIE = 'sotto_session';
const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;
export const TOKEN_PREFIX = 'sotto_';

/** Is this request on TLS (directly, or behind a proxy that says so)? */
export function isHttps(c: Context<AppEnv>): boolean {
  const socket = c.env?.incoming?.socket as { encrypted?: boolean } | undefined;
  return !!socket?.encrypted || c.req.header('x-forwarded-proto') === 'https';
}

export async function startSession(c: Context<AppEnv>, db: Db, userId: string): Promise<void> {
  const secret = newSecret();
  const now = Date.now();
  await db
    .insertInto('sessions')
    .values({
      token_hash: sha256(secret),
      user_id: userId,
      created_at: now,
      expires_at: now + SESSION_TTL_MS,
    })
    .execute();
  setCookie(c, SESSION_COOKIE, secret, {
    httpOnly: true,
    sameSite: 'Strict',
    path: '/',
    secure: isHttps(c),
    maxAge: SESSION_TTL_MS / 1000,
  });
}

export async function endSession(c: Context<AppEnv>, db: Db): Promise<void> {
  const secret = getCookie(c, SESSION_COOKIE);
  if (secret) await db.deleteFrom('sessions').where('token_hash', '=', sha256(secret)).execute();
  deleteCookie(c, SESSION_COOKIE, { path: '/', secure: isHttps(c) });
}

/** Resolves the caller; null when the request carries no valid credential. */
export async function authenticate(c: Context<AppEnv>, db: Db): Promise<UserRow | null> {
  const auth = c.req.header('authorization');
  if (auth && /^Bearer\s/i.test(auth)) {
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m?.[1].startsWith(TOKEN_PREFIX)) throw unauthenticated('malformed bearer token');
    const token = await db
      .selectFrom('api_tokens')
      .select(['id', 'user_id', 'revoked_at'])
      .where('token_hash', '=', sha256(m[1]))
      .executeTakeFirst();
    if (!token || token.revoked_at !== null) throw unauthenticated('unknown or revoked token');
    await db.updateTable('api_tokens').set({ last_used_at: Date.now() }).where('id', '=', token.id).execute();
    return (
      (await db.selectFrom('users').selectAll().where('id', '=', token.user_id).executeTakeFirst()) ?? null
    );
  }
  const secret = getCookie(c, SESSION_COOKIE);
  if (!secret) return null;
  const session = await db
    .selectFrom('sessions')
    .select(['user_id', 'expires_at'])
    .where('token_hash', '=', sha256(secret))
    .executeTakeFirst();
  if (!session || session.expires_at < Date.now()) return null;
  return (
    (await db.selectFrom('users').selectAll().where('id', '=', session.user_id).executeTakeFirst()) ?? null
  );
}

export function requireUser(c: Context<AppEnv>): UserRow {
  const user = c.get('user');
  if (!user) throw unauthenticated();
  return user;
}
