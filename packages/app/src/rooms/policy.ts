/**
 * The stage rules, in one place: pure functions that decide who may do what in a room. Each
 * returns a typed refusal (an AppError with a stable code) or null when the action is allowed.
 * The room service gathers the facts from the database, asks here, then applies the change.
 */
import { AppError } from '../api/problem.ts';
import type { HandRaisePolicy, Role, RoomType } from '../api/schemas.ts';

export interface RoomFacts {
  type: RoomType;
  status: 'live' | 'ended';
  capacity: number;
  handRaise: HandRaisePolicy;
  createdBy: string;
}

export interface MemberFacts {
  userId: string;
  role: Role;
  present: boolean;
  invitedAt: number | null;
  handRaisedAt: number | null;
  stageSince: number | null;
}

export type Refusal = AppError | null;

const onStage = (m: MemberFacts) => m.role === 'moderator' || m.role === 'speaker';

/** Who may see a room (GET, SSE): closed rooms only their invitees, creator and members. */
export function canSee(room: RoomFacts, v: { userId: string; invited: boolean; member: boolean }): Refusal {
  if (room.type !== 'closed') return null;
  if (v.userId === room.createdBy || v.invited || v.member) return null;
  return new AppError(404, 'room_not_found', 'no such room');
}

/**
 * Whether a live room shows in a viewer's hallway: never when someone on stage blocked the viewer
 * or was blocked by them; open rooms to all; social rooms to followers of someone on stage;
 * closed rooms to invitees; any room to its creator and members.
 */
export function inHallway(
  type: RoomType,
  v: {
    viewerId: string;
    createdBy: string;
    member: boolean;
    invited: boolean;
    stage: string[];
    following: Set<string>;
    blocks: Set<string>;
  },
): boolean {
  if (v.stage.some((id) => v.blocks.has(id))) return false;
  if (type === 'open' || v.member || v.createdBy === v.viewerId) return true;
  if (type === 'social') return v.stage.some((id) => v.following.has(id));
  return v.invited;
}

export interface JoinFacts {
  userId: string;
  invited: boolean;
  banned: boolean;
  /** A moderator of the room blocked this user. */
  blockedByModerator: boolean;
  alreadyPresent: boolean;
  presentCount: number;
  /** Has a member row (e.g. the creator, or a member rejoining). */
  member: boolean;
}

export function canJoin(room: RoomFacts, j: JoinFacts): Refusal {
  if (room.status === 'ended') return new AppError(410, 'room_ended', 'the room has ended');
  if (j.banned) return new AppError(403, 'banned', 'you were removed from this room');
  if (j.blockedByModerator) return new AppError(403, 'blocked', 'a moderator of this room blocked you');
  if (room.type === 'closed' && !j.invited && !j.member && j.userId !== room.createdBy)
    return new AppError(403, 'not_invited', 'this room is closed');
  if (!j.alreadyPresent && j.presentCount >= room.capacity)
    return new AppError(409, 'room_full', 'the room is full');
  return null;
}

/** The acting user must be in the room. */
export function requirePresent(actor: MemberFacts | undefined): Refusal {
  if (!actor?.present) return new AppError(403, 'not_member', 'join the room first');
  return null;
}

export function requireModerator(actor: MemberFacts | undefined): Refusal {
  return requirePresent(actor) ?? (actor?.role === 'moderator' ? null : new AppError(403, 'not_moderator'));
}

function requireTarget(target: MemberFacts | undefined): Refusal {
  if (!target?.present) return new AppError(404, 'member_not_found', 'no such member in the room');
  return null;
}

export function canRaiseHand(
  room: RoomFacts,
  me: MemberFacts | undefined,
  raised: boolean,
  followedByStage: boolean,
): Refusal {
  const r = requirePresent(me);
  if (r || !raised) return r;
  if (me && onStage(me)) return new AppError(409, 'already_on_stage', 'you are already on stage');
  if (room.handRaise === 'off') return new AppError(403, 'hand_raise_disabled', 'hand raising is off');
  if (room.handRaise === 'followed' && !followedByStage)
    return new AppError(
      403,
      'hand_raise_followed_only',
      'only people followed by the stage may raise a hand',
    );
  return null;
}

export function canInviteToSpeak(actor: MemberFacts | undefined, target: MemberFacts | undefined): Refusal {
  const r = requireModerator(actor) ?? requireTarget(target);
  if (r) return r;
  if (target && onStage(target)) return new AppError(409, 'already_on_stage');
  return null;
}

export function canAnswerInvitation(me: MemberFacts | undefined): Refusal {
  const r = requirePresent(me);
  if (r) return r;
  if (me && onStage(me)) return new AppError(409, 'already_on_stage');
  if (!me?.invitedAt) return new AppError(409, 'no_invitation', 'no moderator invited you to speak');
  return null;
}

/**
 * Role changes. Anyone on stage may step down (to the audience, or a moderator to speaker); every
 * other change is a moderator's. A listener reaches the stage only by accepting an invitation.
 */
export function canSetRole(
  actor: MemberFacts | undefined,
  target: MemberFacts | undefined,
  role: Role,
): Refusal {
  const present = requirePresent(actor) ?? requireTarget(target);
  if (present || !actor || !target) return present;
  const rank: Record<Role, number> = { listener: 0, speaker: 1, moderator: 2 };
  const self = actor.userId === target.userId;
  if (self && rank[role] <= rank[target.role]) return null;
  if (actor.role !== 'moderator') return new AppError(403, 'not_moderator');
  if (self) return null; // a moderator is already at the top
  if (role === 'speaker' && target.role === 'listener')
    return new AppError(409, 'not_invited_to_speak', 'invite the listener to speak; they must accept');
  if (role === 'moderator' && target.role === 'listener')
    return new AppError(409, 'not_on_stage', 'only people on stage can become moderators');
  return null;
}

export function canMute(actor: MemberFacts | undefined, target: MemberFacts | undefined): Refusal {
  const r = requireModerator(actor) ?? requireTarget(target);
  if (r) return r;
  if (target && !onStage(target)) return new AppError(409, 'not_on_stage');
  return null;
}

export function canRemove(actor: MemberFacts | undefined, target: MemberFacts | undefined): Refusal {
  const r = requireModerator(actor) ?? requireTarget(target);
  if (r) return r;
  if (actor && target && actor.userId === target.userId)
    return new AppError(409, 'cannot_remove_self', 'leave the room instead');
  return null;
}

export type Succession = { kind: 'none' } | { kind: 'promote'; userId: string } | { kind: 'end' };

/**
 * What happens when `leavingId` stops being a moderator (leaves, steps down, disconnects): if no
 * other moderator is present, the oldest speaker (by stage_since) is promoted; if there is none,
 * the room ends.
 */
export function succession(members: MemberFacts[], leavingId: string): Succession {
  const rest = members.filter((m) => m.present && m.userId !== leavingId);
  if (rest.some((m) => m.role === 'moderator')) return { kind: 'none' };
  const speakers = rest
    .filter((m) => m.role === 'speaker')
    .sort((a, b) => (a.stageSince ?? 0) - (b.stageSince ?? 0));
  if (speakers.length > 0) return { kind: 'promote', userId: speakers[0].userId };
  return { kind: 'end' };
}

/** The media permission a member should hold. */
export const mayPublish = (m: Pick<MemberFacts, 'role' | 'present'>) =>
  m.present && (m.role === 'moderator' || m.role === 'speaker');
