/**
 * The app API contract: every request and response body, as zod schemas. The server validates
 * with them and publishes them as OpenAPI (/api/openapi.json); the client SDK and the web app
 * import the inferred types (type-only imports, so no zod reaches the browser bundle).
 *
 * Errors are RFC 9457 problem documents (application/problem+json): see `Problem`.
 */
import { z } from '@hono/zod-openapi';

// ---- common ---------------------------------------------------------------------------------

export const Problem = z
  .object({
    type: z.string().openapi({ example: 'https://sotto.dev/problems/forbidden' }),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    /** Machine-readable reason, stable across versions (e.g. `room_full`, `not_moderator`). */
    code: z.string(),
    /** Field errors for 400s from schema validation. */
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .openapi('Problem');
export type Problem = z.infer<typeof Problem>;

export const Username = z
  .string()
  .min(3)
  .max(24)
  .regex(/^[a-z0-9_]+$/, 'lowercase letters, digits and _ only');
export const DisplayName = z.string().trim().min(1).max(64);
export const Id = z.string().min(1).max(64);
/** Milliseconds since the Unix epoch. */
export const Timestamp = z.number().int();

export const UserSummary = z
  .object({ id: Id, username: Username, displayName: z.string() })
  .openapi('UserSummary');
export type UserSummary = z.infer<typeof UserSummary>;

export const Profile = UserSummary.extend({
  bio: z.string(),
  createdAt: Timestamp,
  followers: z.number().int(),
  following: z.number().int(),
  /** Relations to the viewer. */
  isMe: z.boolean(),
  isFollowing: z.boolean(),
  followsMe: z.boolean(),
  isBlocked: z.boolean(),
}).openapi('Profile');
export type Profile = z.infer<typeof Profile>;

export const Me = z
  .object({
    user: UserSummary,
    bio: z.string(),
    /** Invite codes this user may still create. */
    invitesLeft: z.number().int(),
    /** True when the server runs with --dev (dev sign-in offered). */
    dev: z.boolean(),
  })
  .openapi('Me');
export type Me = z.infer<typeof Me>;

export const UpdateMe = z
  .object({ displayName: DisplayName.optional(), bio: z.string().max(280).optional() })
  .openapi('UpdateMe');
export type UpdateMe = z.infer<typeof UpdateMe>;

// ---- auth (passkeys; dev sign-in) -------------------------------------------------------------
// Registration: options → navigator.credentials.create (simplewebauthn startRegistration) → verify.
// The WebAuthn JSON blobs are passed through as-is (validated by @simplewebauthn/server).

export const RegisterOptionsRequest = z
  .object({ inviteCode: z.string().min(4).max(64), username: Username, displayName: DisplayName })
  .openapi('RegisterOptionsRequest');
export type RegisterOptionsRequest = z.infer<typeof RegisterOptionsRequest>;

export const CeremonyOptions = z
  .object({
    /** Opaque id of this ceremony; send it back with the verify call. Valid for 5 minutes. */
    flowId: z.string(),
    /** PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON. */
    options: z.record(z.string(), z.unknown()),
  })
  .openapi('CeremonyOptions');
export type CeremonyOptions = z.infer<typeof CeremonyOptions>;

export const CeremonyVerifyRequest = z
  .object({ flowId: z.string(), response: z.record(z.string(), z.unknown()) })
  .openapi('CeremonyVerifyRequest');
export type CeremonyVerifyRequest = z.infer<typeof CeremonyVerifyRequest>;

/** What a signed-out page needs to know: whether to offer the dev sign-in. */
export const AuthConfig = z.object({ devSignIn: z.boolean() }).openapi('AuthConfig');
export type AuthConfig = z.infer<typeof AuthConfig>;

export const DevSignInRequest = z.object({ username: Username, displayName: DisplayName.optional() });
export type DevSignInRequest = z.infer<typeof DevSignInRequest>;

export const WaitlistRequest = z
  .object({ username: Username, note: z.string().max(280).default('') })
  .openapi('WaitlistRequest');
export type WaitlistRequest = z.infer<typeof WaitlistRequest>;
export const WaitlistEntry = z
  .object({ id: Id, username: z.string(), note: z.string(), createdAt: Timestamp, invited: z.boolean() })
  .openapi('WaitlistEntry');
export type WaitlistEntry = z.infer<typeof WaitlistEntry>;

export const Invite = z
  .object({ code: z.string(), createdAt: Timestamp, usedBy: UserSummary.nullable() })
  .openapi('Invite');
export type Invite = z.infer<typeof Invite>;

// ---- API tokens (bots, CLI): Authorization: Bearer <token> --------------------------------------

export const ApiToken = z
  .object({ id: Id, name: z.string(), createdAt: Timestamp, lastUsedAt: Timestamp.nullable() })
  .openapi('ApiToken');
export type ApiToken = z.infer<typeof ApiToken>;
export const CreateApiTokenRequest = z.object({ name: z.string().trim().min(1).max(64) });
export type CreateApiTokenRequest = z.infer<typeof CreateApiTokenRequest>;
/** Returned once, at creation; the server keeps only a hash. */
export const CreatedApiToken = ApiToken.extend({ token: z.string() }).openapi('CreatedApiToken');
export type CreatedApiToken = z.infer<typeof CreatedApiToken>;

// ---- clubs and events -------------------------------------------------------------------------

export const Club = z
  .object({
    id: Id,
    name: z.string(),
    description: z.string(),
    createdAt: Timestamp,
    memberCount: z.number().int(),
    myRole: z.enum(['admin', 'member']).nullable(),
  })
  .openapi('Club');
export type Club = z.infer<typeof Club>;
export const ClubDetail = Club.extend({
  members: z.array(UserSummary.extend({ role: z.enum(['admin', 'member']) })),
}).openapi('ClubDetail');
export type ClubDetail = z.infer<typeof ClubDetail>;
export const CreateClubRequest = z.object({
  name: z.string().trim().min(2).max(64),
  description: z.string().max(500).default(''),
});
export type CreateClubRequest = z.infer<typeof CreateClubRequest>;

export const Event = z
  .object({
    id: Id,
    title: z.string(),
    description: z.string(),
    startsAt: Timestamp,
    club: z.object({ id: Id, name: z.string() }).nullable(),
    host: UserSummary,
    /** Set once the event's room has been started. */
    roomId: Id.nullable(),
  })
  .openapi('Event');
export type Event = z.infer<typeof Event>;
export const CreateEventRequest = z.object({
  title: z.string().trim().min(2).max(120),
  description: z.string().max(1000).default(''),
  startsAt: Timestamp,
  clubId: Id.optional(),
});
export type CreateEventRequest = z.infer<typeof CreateEventRequest>;
/** Partial update; fields left out keep their value (no defaults here, unlike CreateEventRequest). */
export const UpdateEventRequest = z.object({
  title: z.string().trim().min(2).max(120).optional(),
  description: z.string().max(1000).optional(),
  startsAt: Timestamp.optional(),
  clubId: Id.optional(),
});
export type UpdateEventRequest = z.infer<typeof UpdateEventRequest>;

// ---- rooms -------------------------------------------------------------------------------------

export const RoomType = z.enum(['open', 'social', 'closed']);
export type RoomType = z.infer<typeof RoomType>;
export const Role = z.enum(['moderator', 'speaker', 'listener']);
export type Role = z.infer<typeof Role>;
/** Who may raise a hand: everyone, only people followed by someone on stage, or nobody. */
export const HandRaisePolicy = z.enum(['everyone', 'followed', 'off']);
export type HandRaisePolicy = z.infer<typeof HandRaisePolicy>;

export const CreateRoomRequest = z
  .object({
    topic: z.string().trim().min(1).max(120),
    type: RoomType.default('open'),
    /** Closed rooms: who may join (usernames). */
    invite: z.array(Username).max(200).default([]),
    clubId: Id.optional(),
    eventId: Id.optional(),
    capacity: z.number().int().min(2).max(5000).default(5000),
    handRaise: HandRaisePolicy.default('everyone'),
    /**
     * Hardened: Opus at a constant bitrate without DTX and no audio-level header extension, so
     * packet sizes and headers reveal no speech activity. Default: on for closed rooms.
     */
    hardened: z.boolean().optional(),
  })
  .openapi('CreateRoomRequest');
export type CreateRoomRequest = z.infer<typeof CreateRoomRequest>;

export const RoomCard = z
  .object({
    id: Id,
    topic: z.string(),
    type: RoomType,
    club: z.object({ id: Id, name: z.string() }).nullable(),
    /** Up to 6 people on stage, moderators first. */
    speakers: z.array(UserSummary),
    speakerCount: z.number().int(),
    listenerCount: z.number().int(),
    createdAt: Timestamp,
  })
  .openapi('RoomCard');
export type RoomCard = z.infer<typeof RoomCard>;

// ---- E2EE key directory ------------------------------------------------------------------------
// Public device identity keys only (the app server never holds a media key): an Ed25519 signing key
// and an X25519 HPKE key, each the raw 32 bytes in base64url (see @sotto/e2ee `DeviceIdentity`).

const PublicKey32 = z
  .string()
  .regex(/^[A-Za-z0-9_-]{43}$/, 'a 32-byte key in unpadded base64url')
  .openapi({ example: 'MCowBQYDK2VwAyEA1S5pZ8lVdW9iZ2l0aGlzaXNhdGVzdA' });
export const DeviceId = z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, '8–64 base64url characters');

export const DeviceKeys = z
  .object({ id: DeviceId, signingPublicKey: PublicKey32, hpkePublicKey: PublicKey32 })
  .openapi('DeviceKeys');
export type DeviceKeys = z.infer<typeof DeviceKeys>;

export const PublishDeviceRequest = z
  .object({ deviceId: DeviceId, signingPublicKey: PublicKey32, hpkePublicKey: PublicKey32 })
  .openapi('PublishDeviceRequest');
export type PublishDeviceRequest = z.infer<typeof PublishDeviceRequest>;

export const Device = DeviceKeys.extend({ createdAt: Timestamp, updatedAt: Timestamp }).openapi('Device');
export type Device = z.infer<typeof Device>;

export const JoinRoomRequest = z.object({ deviceId: DeviceId.optional() }).openapi('JoinRoomRequest');
export type JoinRoomRequest = z.infer<typeof JoinRoomRequest>;

export const Member = z
  .object({
    user: UserSummary,
    role: Role,
    /** This join's pseudonymous media identity (what the media node and livekit-client see). */
    handle: z.string(),
    handRaisedAt: Timestamp.nullable(),
    /** A moderator invited this listener to speak and they have not answered yet. */
    invitedToSpeak: z.boolean(),
    joinedAt: Timestamp,
    /** The E2EE device this join announced (maps the handle to device keys); null without one. */
    device: DeviceKeys.nullable(),
  })
  .openapi('Member');
export type Member = z.infer<typeof Member>;

/** One member's view of a room; moderators also see the hand queue. */
export const RoomState = z
  .object({
    id: Id,
    topic: z.string(),
    type: RoomType,
    status: z.enum(['live', 'ended']),
    club: z.object({ id: Id, name: z.string() }).nullable(),
    capacity: z.number().int(),
    handRaise: HandRaisePolicy,
    /** See CreateRoomRequest.hardened. */
    hardened: z.boolean(),
    createdAt: Timestamp,
    /** The viewer's membership; null when the viewer is not in the room. */
    me: Member.nullable(),
    /** Moderators then speakers, in the order they came on stage. */
    stage: z.array(Member),
    /** Listeners, oldest first; at most 500 (see listenerCount). */
    audience: z.array(Member),
    listenerCount: z.number().int(),
    /** Raised hands, oldest first. Only moderators see it; empty for everyone else. */
    handQueue: z.array(Member),
    /** Increases with every change; clients drop older snapshots. */
    version: z.number().int(),
  })
  .openapi('RoomState');
export type RoomState = z.infer<typeof RoomState>;

export const JoinRoomResponse = z
  .object({
    /** The media node's WebSocket URL for livekit-client. */
    mediaUrl: z.string(),
    /** Media token: identity = this join's random handle, room = the room's random media ID. */
    mediaToken: z.string(),
    handle: z.string(),
    state: RoomState,
  })
  .openapi('JoinRoomResponse');
export type JoinRoomResponse = z.infer<typeof JoinRoomResponse>;

export const LeaveRoomRequest = z.object({ quiet: z.boolean().default(false) });
export type LeaveRoomRequest = z.infer<typeof LeaveRoomRequest>;
export const HandRequest = z.object({ raised: z.boolean() });
export type HandRequest = z.infer<typeof HandRequest>;
export const InvitationAnswer = z.object({ accept: z.boolean() });
export type InvitationAnswer = z.infer<typeof InvitationAnswer>;
export const SetRoleRequest = z.object({ role: Role });
export type SetRoleRequest = z.infer<typeof SetRoleRequest>;
export const RemoveMemberRequest = z.object({ block: z.boolean().default(false) });
export type RemoveMemberRequest = z.infer<typeof RemoveMemberRequest>;
export const RoomSettingsRequest = z.object({ handRaise: HandRaisePolicy });
export type RoomSettingsRequest = z.infer<typeof RoomSettingsRequest>;
export const PingRequest = z.object({ username: Username });
export type PingRequest = z.infer<typeof PingRequest>;

export const ChatMessage = z
  .object({
    id: Id,
    roomId: Id,
    /** null for system lines ("… joined the stage"). */
    user: UserSummary.nullable(),
    text: z.string(),
    createdAt: Timestamp,
  })
  .openapi('ChatMessage');
export type ChatMessage = z.infer<typeof ChatMessage>;
export const SendChatRequest = z.object({ text: z.string().trim().min(1).max(500) });
export type SendChatRequest = z.infer<typeof SendChatRequest>;

// ---- notifications, reports --------------------------------------------------------------------

export const Notification = z
  .object({
    id: Id,
    kind: z.enum(['room_ping', 'speak_invite', 'followed']),
    from: UserSummary.nullable(),
    room: z.object({ id: Id, topic: z.string() }).nullable(),
    createdAt: Timestamp,
    read: z.boolean(),
  })
  .openapi('Notification');
export type Notification = z.infer<typeof Notification>;

export const ReportRequest = z
  .object({
    target: z.discriminatedUnion('type', [
      z.object({ type: z.literal('user'), username: Username }),
      z.object({ type: z.literal('room'), roomId: Id }),
    ]),
    reason: z.enum(['harassment', 'hate', 'spam', 'impersonation', 'self_harm', 'other']),
    text: z.string().max(2000).default(''),
  })
  .openapi('ReportRequest');
export type ReportRequest = z.infer<typeof ReportRequest>;

// ---- real-time streams (Server-Sent Events) ----------------------------------------------------
// GET /api/rooms/{id}/events (members only): `state` (RoomState, the viewer's view, sent on connect
// and after every change), `chat` (ChatMessage), `ended` ({}), `removed` ({ blocked: boolean }).
// GET /api/notifications/stream: `notification` (Notification).
// EventSource reconnects by itself; the first `state` after a reconnect is a full snapshot, so
// nothing is lost across an app server restart (room state lives in the database).
