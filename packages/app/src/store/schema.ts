/**
 * The database tables as Kysely sees them. Timestamps are milliseconds since the epoch (bigint in
 * PostgreSQL, parsed as numbers); booleans are integers 0/1 so both engines store them alike.
 */
export interface UsersTable {
  id: string;
  username: string;
  display_name: string;
  bio: string;
  /** WebAuthn user handle (base64url), random per user. */
  webauthn_id: string;
  created_at: number;
}

export interface CredentialsTable {
  id: string; // credential id, base64url
  user_id: string;
  public_key: string; // base64url
  counter: number;
  transports: string; // JSON array
  created_at: number;
}

export interface AuthFlowsTable {
  id: string;
  kind: 'register' | 'login';
  challenge: string;
  /** JSON: for registration, the pending user (invite, username, displayName, webauthnId). */
  data: string;
  expires_at: number;
}

export interface SessionsTable {
  token_hash: string;
  user_id: string;
  created_at: number;
  expires_at: number;
}

export interface ApiTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

export interface InvitesTable {
  code: string;
  created_by: string | null;
  used_by: string | null;
  created_at: number;
  used_at: number | null;
}

export interface WaitlistTable {
  id: string;
  username: string;
  note: string;
  created_at: number;
  invite_code: string | null;
}

export interface FollowsTable {
  follower_id: string;
  followee_id: string;
  created_at: number;
}

export interface UserBlocksTable {
  blocker_id: string;
  blocked_id: string;
  created_at: number;
}

export interface ClubsTable {
  id: string;
  name: string;
  description: string;
  created_by: string;
  created_at: number;
}

export interface ClubMembersTable {
  club_id: string;
  user_id: string;
  role: 'admin' | 'member';
  joined_at: number;
}

export interface EventsTable {
  id: string;
  title: string;
  description: string;
  starts_at: number;
  club_id: string | null;
  host_id: string;
  room_id: string | null;
  created_at: number;
}

export interface RoomsTable {
  id: string;
  /** The only name the media node knows: random `r_…`. */
  media_id: string;
  topic: string;
  type: 'open' | 'social' | 'closed';
  club_id: string | null;
  event_id: string | null;
  created_by: string;
  capacity: number;
  hand_raise: 'everyone' | 'followed' | 'off';
  /** 1: hardened media (see CreateRoomRequest.hardened). */
  hardened: number;
  status: 'live' | 'ended';
  version: number;
  created_at: number;
  ended_at: number | null;
}

export interface RoomInvitesTable {
  room_id: string;
  user_id: string;
  created_at: number;
}

export interface RoomMembersTable {
  room_id: string;
  user_id: string;
  role: 'moderator' | 'speaker' | 'listener';
  /** This join's media identity; '' before the first join. */
  handle: string;
  present: number;
  hand_raised_at: number | null;
  /** A pending invitation to speak. */
  invited_at: number | null;
  joined_at: number;
  stage_since: number | null;
  left_at: number | null;
  /** The E2EE device this join announced (a row of `devices` for the same user), if any. */
  device_id: string | null;
}

/** E2EE key directory: public identity keys only (base64url raw 32-byte keys). */
export interface DevicesTable {
  user_id: string;
  device_id: string;
  signing_public_key: string;
  hpke_public_key: string;
  created_at: number;
  updated_at: number;
}

export interface RoomBansTable {
  room_id: string;
  user_id: string;
  created_at: number;
}

export interface RoomMessagesTable {
  id: string;
  room_id: string;
  user_id: string | null;
  text: string;
  created_at: number;
}

export interface NotificationsTable {
  id: string;
  user_id: string;
  kind: 'room_ping' | 'speak_invite' | 'followed';
  from_id: string | null;
  room_id: string | null;
  created_at: number;
  read: number;
}

export interface ReportsTable {
  id: string;
  reporter_id: string;
  target_user_id: string | null;
  target_room_id: string | null;
  reason: string;
  text: string;
  created_at: number;
}

export interface Database {
  users: UsersTable;
  credentials: CredentialsTable;
  auth_flows: AuthFlowsTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  invites: InvitesTable;
  waitlist: WaitlistTable;
  follows: FollowsTable;
  user_blocks: UserBlocksTable;
  clubs: ClubsTable;
  club_members: ClubMembersTable;
  events: EventsTable;
  rooms: RoomsTable;
  room_invites: RoomInvitesTable;
  room_members: RoomMembersTable;
  room_bans: RoomBansTable;
  room_messages: RoomMessagesTable;
  notifications: NotificationsTable;
  reports: ReportsTable;
  devices: DevicesTable;
}
