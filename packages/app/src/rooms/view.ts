/**
 * Room state as each viewer sees it. A snapshot (the room and its present members) is built once
 * per version; `project` turns it into one viewer's RoomState (moderators also see the hand queue).
 */
import type { DeviceKeys, Member, RoomCard, RoomState, UserSummary } from '../api/schemas.ts';
import { devicesFor } from '../social/devices.ts';
import { summaries } from '../social/users.ts';
import type { Db } from '../store/db.ts';
import type { RoomMembersTable, RoomsTable } from '../store/schema.ts';
import type { MemberFacts } from './policy.ts';

export type RoomRow = RoomsTable;
export type MemberRow = RoomMembersTable;

export interface Snapshot {
  room: RoomRow;
  club: { id: string; name: string } | null;
  /** Present members plus not-yet-joined moderators (the creator before their first join). */
  rows: MemberRow[];
  users: Map<string, UserSummary>;
  /** Announced devices' public keys, keyed `userId/deviceId`. */
  devices: Map<string, DeviceKeys>;
}

const AUDIENCE_LIMIT = 500;
const ROLE_ORDER = { moderator: 0, speaker: 1, listener: 2 } as const;

export const facts = (m: MemberRow): MemberFacts => ({
  userId: m.user_id,
  role: m.role,
  present: m.present === 1,
  invitedAt: m.invited_at,
  handRaisedAt: m.hand_raised_at,
  stageSince: m.stage_since,
});

export async function loadSnapshot(db: Db, room: RoomRow): Promise<Snapshot> {
  const rows = await db
    .selectFrom('room_members')
    .selectAll()
    .where('room_id', '=', room.id)
    .where('left_at', 'is', null)
    .execute();
  const club = room.club_id
    ? ((await db
        .selectFrom('clubs')
        .select(['id', 'name'])
        .where('id', '=', room.club_id)
        .executeTakeFirst()) ?? null)
    : null;
  return {
    room,
    club,
    rows,
    users: await summaries(
      db,
      rows.map((r) => r.user_id),
    ),
    devices: await devicesFor(
      db,
      rows.flatMap((r) => (r.device_id ? [{ userId: r.user_id, deviceId: r.device_id }] : [])),
    ),
  };
}

function member(s: Snapshot, m: MemberRow): Member {
  return {
    user: s.users.get(m.user_id) ?? { id: m.user_id, username: 'unknown', displayName: 'unknown' },
    role: m.role,
    handle: m.handle,
    handRaisedAt: m.hand_raised_at,
    invitedToSpeak: m.invited_at !== null,
    joinedAt: m.joined_at,
    device: (m.device_id && s.devices.get(`${m.user_id}/${m.device_id}`)) || null,
  };
}

export function project(s: Snapshot, viewerId: string): RoomState {
  const present = s.rows.filter((m) => m.present === 1);
  const stage = present
    .filter((m) => m.role !== 'listener')
    .sort((a, b) => ROLE_ORDER[a.role] - ROLE_ORDER[b.role] || (a.stage_since ?? 0) - (b.stage_since ?? 0));
  const listeners = present.filter((m) => m.role === 'listener').sort((a, b) => a.joined_at - b.joined_at);
  const mine = s.rows.find((m) => m.user_id === viewerId);
  const isModerator = mine?.present === 1 && mine.role === 'moderator';
  const hands = isModerator
    ? listeners
        .filter((m) => m.hand_raised_at !== null)
        .sort((a, b) => (a.hand_raised_at ?? 0) - (b.hand_raised_at ?? 0))
    : [];
  return {
    id: s.room.id,
    topic: s.room.topic,
    type: s.room.type,
    status: s.room.status,
    club: s.club,
    capacity: s.room.capacity,
    handRaise: s.room.hand_raise,
    hardened: s.room.hardened === 1,
    createdAt: s.room.created_at,
    me: mine && s.room.status === 'live' ? member(s, mine) : null,
    stage: stage.map((m) => member(s, m)),
    audience: listeners.slice(0, AUDIENCE_LIMIT).map((m) => member(s, m)),
    listenerCount: listeners.length,
    handQueue: hands.map((m) => member(s, m)),
    version: s.room.version,
  };
}

export function card(s: Snapshot): RoomCard {
  const state = project(s, '');
  return {
    id: s.room.id,
    topic: s.room.topic,
    type: s.room.type,
    club: s.club,
    speakers: state.stage.slice(0, 6).map((m) => m.user),
    speakerCount: state.stage.length,
    listenerCount: state.listenerCount,
    createdAt: s.room.created_at,
  };
}
