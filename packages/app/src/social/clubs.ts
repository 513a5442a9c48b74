/** Clubs (creator is admin; admins promote admins) and events (host or club admin edits and starts). */
import type { Services } from '../api/env.ts';
import { AppError, conflict, forbidden, notFound } from '../api/problem.ts';
import type {
  Club,
  ClubDetail,
  CreateClubRequest,
  CreateEventRequest,
  Event,
  RoomState,
  UpdateEventRequest,
} from '../api/schemas.ts';
import type { Db } from '../store/db.ts';
import type { ClubsTable, EventsTable } from '../store/schema.ts';
import { newId } from '../util/ids.ts';
import { summaries, summary, type UserRow } from './users.ts';

async function clubRow(db: Db, id: string): Promise<ClubsTable> {
  const c = await db.selectFrom('clubs').selectAll().where('id', '=', id).executeTakeFirst();
  if (!c) throw notFound('club_not_found', 'no such club');
  return c;
}

async function roleIn(db: Db, clubId: string, userId: string): Promise<'admin' | 'member' | null> {
  const m = await db
    .selectFrom('club_members')
    .select('role')
    .where('club_id', '=', clubId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return m?.role ?? null;
}

async function clubToApi(db: Db, c: ClubsTable, viewerId: string): Promise<Club> {
  const n = await db
    .selectFrom('club_members')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('club_id', '=', c.id)
    .executeTakeFirst();
  return {
    id: c.id,
    name: c.name,
    description: c.description,
    createdAt: c.created_at,
    memberCount: Number(n?.n ?? 0),
    myRole: await roleIn(db, c.id, viewerId),
  };
}

export async function clubDetail(db: Db, id: string, viewerId: string): Promise<ClubDetail> {
  const c = await clubRow(db, id);
  const members = await db
    .selectFrom('club_members')
    .innerJoin('users', 'users.id', 'club_members.user_id')
    .select(['users.id', 'users.username', 'users.display_name', 'club_members.role'])
    .where('club_members.club_id', '=', id)
    .orderBy('club_members.joined_at', 'asc')
    .limit(1000)
    .execute();
  return {
    ...(await clubToApi(db, c, viewerId)),
    members: members.map((m) => ({ ...summary(m), role: m.role })),
  };
}

export async function listClubs(db: Db, viewerId: string): Promise<Club[]> {
  const rows = await db.selectFrom('clubs').selectAll().orderBy('created_at', 'desc').limit(200).execute();
  return Promise.all(rows.map((c) => clubToApi(db, c, viewerId)));
}

export async function createClub(db: Db, me: UserRow, req: CreateClubRequest): Promise<Club> {
  const now = Date.now();
  const c: ClubsTable = {
    id: newId('club'),
    name: req.name,
    description: req.description,
    created_by: me.id,
    created_at: now,
  };
  await db.insertInto('clubs').values(c).execute();
  await db
    .insertInto('club_members')
    .values({ club_id: c.id, user_id: me.id, role: 'admin', joined_at: now })
    .execute();
  return clubToApi(db, c, me.id);
}

export async function joinClub(db: Db, me: UserRow, id: string): Promise<ClubDetail> {
  await clubRow(db, id);
  await db
    .insertInto('club_members')
    .values({ club_id: id, user_id: me.id, role: 'member', joined_at: Date.now() })
    .onConflict((oc) => oc.columns(['club_id', 'user_id']).doNothing())
    .execute();
  return clubDetail(db, id, me.id);
}

export async function leaveClub(db: Db, me: UserRow, id: string): Promise<ClubDetail> {
  await clubRow(db, id);
  const role = await roleIn(db, id, me.id);
  if (!role) throw notFound('not_member', 'you are not in this club');
  if (role === 'admin') {
    const admins = await db
      .selectFrom('club_members')
      .select('user_id')
      .where('club_id', '=', id)
      .where('role', '=', 'admin')
      .execute();
    if (admins.length === 1) throw conflict('last_admin', 'make someone else an admin first');
  }
  await db.deleteFrom('club_members').where('club_id', '=', id).where('user_id', '=', me.id).execute();
  return clubDetail(db, id, me.id);
}

export async function makeAdmin(db: Db, me: UserRow, id: string, target: UserRow): Promise<ClubDetail> {
  await clubRow(db, id);
  if ((await roleIn(db, id, me.id)) !== 'admin') throw forbidden('not_club_admin');
  if (!(await roleIn(db, id, target.id))) throw notFound('not_member', 'that user is not in the club');
  await db
    .updateTable('club_members')
    .set({ role: 'admin' })
    .where('club_id', '=', id)
    .where('user_id', '=', target.id)
    .execute();
  return clubDetail(db, id, me.id);
}

// ---- events -----------------------------------------------------------------------------------

async function eventRow(db: Db, id: string): Promise<EventsTable> {
  const e = await db.selectFrom('events').selectAll().where('id', '=', id).executeTakeFirst();
  if (!e) throw notFound('event_not_found', 'no such event');
  return e;
}

async function eventsToApi(db: Db, rows: EventsTable[]): Promise<Event[]> {
  const hosts = await summaries(
    db,
    rows.map((r) => r.host_id),
  );
  const clubIds = [...new Set(rows.flatMap((r) => (r.club_id ? [r.club_id] : [])))];
  const clubs = new Map(
    clubIds.length
      ? (await db.selectFrom('clubs').select(['id', 'name']).where('id', 'in', clubIds).execute()).map(
          (c) => [c.id, c],
        )
      : [],
  );
  return rows.map((r) => ({
    id: r.id,
    title: r.title,
    description: r.description,
    startsAt: r.starts_at,
    club: (r.club_id && clubs.get(r.club_id)) || null,
    host: hosts.get(r.host_id) ?? { id: r.host_id, username: 'unknown', displayName: 'unknown' },
    roomId: r.room_id,
  }));
}

/** Upcoming events and those of the last day. */
export async function listEvents(db: Db): Promise<Event[]> {
  const rows = await db
    .selectFrom('events')
    .selectAll()
    .where('starts_at', '>=', Date.now() - 24 * 3600 * 1000)
    .orderBy('starts_at', 'asc')
    .limit(200)
    .execute();
  return eventsToApi(db, rows);
}

async function assertClubAdmin(db: Db, clubId: string, userId: string): Promise<void> {
  await clubRow(db, clubId);
  if ((await roleIn(db, clubId, userId)) !== 'admin') throw forbidden('not_club_admin');
}

export async function createEvent(db: Db, me: UserRow, req: CreateEventRequest): Promise<Event> {
  if (req.clubId) await assertClubAdmin(db, req.clubId, me.id);
  const e: EventsTable = {
    id: newId('ev'),
    title: req.title,
    description: req.description,
    starts_at: req.startsAt,
    club_id: req.clubId ?? null,
    host_id: me.id,
    room_id: null,
    created_at: Date.now(),
  };
  await db.insertInto('events').values(e).execute();
  return (await eventsToApi(db, [e]))[0];
}

async function assertCanEdit(db: Db, e: EventsTable, userId: string): Promise<void> {
  if (e.host_id === userId) return;
  if (e.club_id && (await roleIn(db, e.club_id, userId)) === 'admin') return;
  throw forbidden('not_host', 'only the host or a club admin can change this event');
}

export async function updateEvent(db: Db, me: UserRow, id: string, req: UpdateEventRequest): Promise<Event> {
  const e = await eventRow(db, id);
  await assertCanEdit(db, e, me.id);
  if (req.clubId) await assertClubAdmin(db, req.clubId, me.id);
  await db
    .updateTable('events')
    .set({
      ...(req.title !== undefined ? { title: req.title } : {}),
      ...(req.description !== undefined ? { description: req.description } : {}),
      ...(req.startsAt !== undefined ? { starts_at: req.startsAt } : {}),
      ...(req.clubId !== undefined ? { club_id: req.clubId } : {}),
    })
    .where('id', '=', id)
    .execute();
  return (await eventsToApi(db, [await eventRow(db, id)]))[0];
}

/** The event, if `userId` may run it (host or club admin); refuses otherwise. */
export async function eventForHost(db: Db, id: string, userId: string): Promise<EventsTable> {
  const e = await eventRow(db, id);
  await assertCanEdit(db, e, userId);
  return e;
}

export async function deleteEvent(db: Db, me: UserRow, id: string): Promise<void> {
  const e = await eventRow(db, id);
  await assertCanEdit(db, e, me.id);
  await db.deleteFrom('events').where('id', '=', id).execute();
}

/** Starts the event's room (the club's, if the event has a club); the starter moderates. */
export async function startEvent(s: Services, me: UserRow, id: string): Promise<RoomState> {
  const e = await eventRow(s.db, id);
  await assertCanEdit(s.db, e, me.id);
  if (e.room_id) {
    const room = await s.db
      .selectFrom('rooms')
      .select('status')
      .where('id', '=', e.room_id)
      .executeTakeFirst();
    if (room?.status === 'live') return s.rooms.get(me.id, e.room_id);
  }
  if (e.club_id && !(await roleIn(s.db, e.club_id, me.id)))
    throw new AppError(403, 'not_club_member', 'join the club first');
  const state = await s.rooms.create(
    me.id,
    {
      topic: e.title,
      type: 'open',
      invite: [],
      clubId: e.club_id ?? undefined,
      capacity: 5000,
      handRaise: 'everyone',
    },
    { eventId: e.id },
  );
  await s.db.updateTable('events').set({ room_id: state.id }).where('id', '=', id).execute();
  return state;
}
