/**
 * Rooms and the stage: every room operation reads the facts from the database, asks the rules in
 * `policy.ts`, writes the change, bumps the room's version, tells the media node what changed
 * (by media id and handle only) and publishes to the room's SSE subscribers. Changes to one room
 * are serialized; the database is the truth, so state survives an app server restart.
 */
import { randomBytes } from 'node:crypto';
import { logger } from '@sotto/media';
import type { WebhookEvent } from 'livekit-server-sdk';
import { AppError, conflict, notFound } from '../api/problem.ts';
import type {
  ChatMessage,
  CreateRoomRequest,
  HandRaisePolicy,
  Role,
  RoomCard,
  RoomState,
} from '../api/schemas.ts';
import type { MediaGateway } from '../media/gateway.ts';
import { type RoomBus, roomTopic } from '../realtime/bus.ts';
import { requireDevice } from '../social/devices.ts';
import { notify } from '../social/notifications.ts';
import { blockRelations, summaries, userByUsername } from '../social/users.ts';
import type { Db } from '../store/db.ts';
import { newId } from '../util/ids.ts';
import { KeyedLock } from '../util/locks.ts';
import { hallway } from './hallway.ts';
import * as rules from './policy.ts';
import * as q from './queries.ts';
import { facts, loadSnapshot, type MemberRow, project, type RoomRow, type Snapshot } from './view.ts';

const log = logger('app.rooms');
const CHAT_HISTORY = 100;

/** A fresh pseudonymous media identity for one join. */
export const newHandle = () => `h_${randomBytes(16).toString('base64url')}`;

export interface JoinResult {
  handle: string;
  mediaToken: string;
  state: RoomState;
}

export class RoomService {
  private readonly lock = new KeyedLock();
  private readonly snapshots = new Map<string, { version: number; snapshot: Promise<Snapshot> }>();
  private lastChatAt = 0;
  /** Departures waiting out the reconnect grace period, by media handle. */
  private readonly departing = new Map<string, NodeJS.Timeout>();
  /** Handle → the media node's participant sid of its latest connection (stale participant_left). */
  private readonly mediaSids = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly media: MediaGateway,
    private readonly bus: RoomBus,
    /**
     * How long a member whose media connection dropped (page reload, network change, closed tab)
     * stays in the room before it counts as leaving; a rejoin within it replaces their handle.
     */
    private readonly disconnectGraceMs = 15_000,
  ) {}

  /** Stops pending departure timers (at shutdown). */
  close(): void {
    for (const timer of this.departing.values()) clearTimeout(timer);
    this.departing.clear();
  }

  // ---- reading --------------------------------------------------------------------------------

  private room = (roomId: string) => q.roomById(this.db, roomId);
  private row = (roomId: string, userId: string) => q.memberRow(this.db, roomId, userId);
  private present = (roomId: string) => q.presentMembers(this.db, roomId);
  private isInvited = (roomId: string, userId: string) => q.isInvited(this.db, roomId, userId);

  private async assertVisible(room: RoomRow, userId: string): Promise<void> {
    const mine = await this.row(room.id, userId);
    const refusal = rules.canSee(roomFacts(room), {
      userId,
      invited: await this.isInvited(room.id, userId),
      member: !!mine,
    });
    if (refusal) throw refusal;
  }

  async get(viewerId: string, roomId: string): Promise<RoomState> {
    const room = await this.room(roomId);
    await this.assertVisible(room, viewerId);
    return project(await loadSnapshot(this.db, room), viewerId);
  }

  /** The viewer's state for the SSE stream, or null once the viewer is no longer in the room. */
  async viewFor(roomId: string, viewerId: string): Promise<RoomState | null> {
    const room = await this.room(roomId);
    // every subscriber asks after each change: build the snapshot once per version
    let cached = this.snapshots.get(roomId);
    if (!cached || cached.version !== room.version) {
      cached = { version: room.version, snapshot: loadSnapshot(this.db, room) };
      this.snapshots.set(roomId, cached);
      cached.snapshot.catch(() => this.snapshots.delete(roomId));
    }
    const state = project(await cached.snapshot, viewerId);
    if (state.status === 'ended') this.snapshots.delete(roomId);
    return state.me || state.status === 'ended' ? state : null;
  }

  /** May this user open the room's event stream? (members only) */
  async requireMember(roomId: string, userId: string): Promise<void> {
    const room = await this.room(roomId);
    await this.assertVisible(room, userId);
    const mine = await this.row(roomId, userId);
    if (!mine || mine.left_at !== null) throw new AppError(403, 'not_member', 'join the room first');
  }

  hallway(viewerId: string): Promise<RoomCard[]> {
    return hallway(this.db, viewerId);
  }

  async chatHistory(viewerId: string, roomId: string): Promise<ChatMessage[]> {
    await this.requireMember(roomId, viewerId);
    const rows = await this.db
      .selectFrom('room_messages')
      .selectAll()
      .where('room_id', '=', roomId)
      .orderBy('created_at', 'desc')
      .limit(CHAT_HISTORY)
      .execute();
    rows.reverse();
    const users = await summaries(
      this.db,
      rows.flatMap((r) => (r.user_id ? [r.user_id] : [])),
    );
    return rows.map((r) => ({
      id: r.id,
      roomId: r.room_id,
      user: (r.user_id && users.get(r.user_id)) || null,
      text: r.text,
      createdAt: r.created_at,
    }));
  }

  // ---- creating and joining -------------------------------------------------------------------

  async create(userId: string, req: CreateRoomRequest, extra: { eventId?: string } = {}): Promise<RoomState> {
    if (req.clubId) {
      const m = await this.db
        .selectFrom('club_members')
        .select('role')
        .where('club_id', '=', req.clubId)
        .where('user_id', '=', userId)
        .executeTakeFirst();
      if (!m) throw new AppError(403, 'not_club_member', 'only club members can start club rooms');
    }
    const invitees = req.invite.length
      ? await this.db
          .selectFrom('users')
          .select(['id', 'username'])
          .where('username', 'in', req.invite)
          .execute()
      : [];
    if (invitees.length !== new Set(req.invite).size) {
      const known = new Set(invitees.map((u) => u.username));
      throw notFound('user_not_found', `unknown user: ${req.invite.find((u) => !known.has(u))}`);
    }
    const now = Date.now();
    const room: RoomRow = {
      id: newId('room'),
      media_id: `r_${randomBytes(16).toString('base64url')}`,
      topic: req.topic,
      type: req.type,
      club_id: req.clubId ?? null,
      event_id: extra.eventId ?? req.eventId ?? null,
      created_by: userId,
      capacity: req.capacity,
      hand_raise: req.handRaise,
      hardened: (req.hardened ?? req.type === 'closed') ? 1 : 0,
      status: 'live',
      version: 1,
      created_at: now,
      ended_at: null,
    };
    await this.db.insertInto('rooms').values(room).execute();
    await this.db
      .insertInto('room_members')
      .values({
        room_id: room.id,
        user_id: userId,
        role: 'moderator',
        handle: '',
        present: 0,
        hand_raised_at: null,
        invited_at: null,
        joined_at: now,
        stage_since: now,
        left_at: null,
        device_id: null,
      })
      .execute();
    for (const u of invitees) {
      await this.db
        .insertInto('room_invites')
        .values({ room_id: room.id, user_id: u.id, created_at: now })
        .execute();
    }
    log.info('room created', { room: room.media_id });
    return project(await loadSnapshot(this.db, room), userId);
  }

  async join(userId: string, roomId: string, deviceId?: string): Promise<JoinResult> {
    if (deviceId) await requireDevice(this.db, userId, deviceId);
    return this.lock.run(roomId, async () => {
      const room = await this.room(roomId);
      const mine = await this.row(roomId, userId);
      const present = await this.present(roomId);
      const moderators = present.filter((m) => m.role === 'moderator').map((m) => m.user_id);
      if (room.created_by !== userId && mine?.role !== 'moderator') {
        // the creator counts as a moderator before joining too
        const creator = await this.row(roomId, room.created_by);
        if (creator?.role === 'moderator' && creator.left_at === null) moderators.push(room.created_by);
      }
      const blockedByModerator = moderators.length
        ? !!(await this.db
            .selectFrom('user_blocks')
            .select('blocker_id')
            .where('blocker_id', 'in', moderators)
            .where('blocked_id', '=', userId)
            .executeTakeFirst())
        : false;
      const banned = !!(await this.db
        .selectFrom('room_bans')
        .select('user_id')
        .where('room_id', '=', roomId)
        .where('user_id', '=', userId)
        .executeTakeFirst());
      const refusal = rules.canJoin(roomFacts(room), {
        userId,
        invited: await this.isInvited(roomId, userId),
        banned,
        blockedByModerator,
        alreadyPresent: mine?.present === 1,
        presentCount: present.length,
        member: !!mine,
      });
      if (refusal) throw refusal;

      const handle = newHandle();
      const now = Date.now();
      const role: Role = mine?.role ?? 'listener';
      const oldHandle = mine?.present === 1 ? mine.handle : '';
      if (mine) {
        await this.db
          .updateTable('room_members')
          .set({
            handle,
            present: 1,
            joined_at: mine.present === 1 ? mine.joined_at : now,
            left_at: null,
            device_id: deviceId ?? null,
            stage_since: role === 'listener' ? null : (mine.stage_since ?? now),
          })
          .where('room_id', '=', roomId)
          .where('user_id', '=', userId)
          .execute();
      } else {
        await this.db
          .insertInto('room_members')
          .values({
            room_id: roomId,
            user_id: userId,
            role,
            handle,
            present: 1,
            hand_raised_at: null,
            invited_at: null,
            joined_at: now,
            stage_since: null,
            left_at: null,
            device_id: deviceId ?? null,
          })
          .execute();
      }
      if (oldHandle) await this.media.remove(room.media_id, oldHandle);
      const mediaToken = await this.media.token(
        room.media_id,
        handle,
        rules.mayPublish({ role, present: true }),
        room.hardened === 1,
      );
      log.info('member joined', { room: room.media_id, handle });
      const state = await this.changed(roomId, userId);
      return { handle, mediaToken, state: state ?? (await this.get(userId, roomId)) };
    });
  }

  // ---- leaving and succession -----------------------------------------------------------------

  async leave(userId: string, roomId: string, quiet: boolean): Promise<void> {
    await this.lock.run(roomId, async () => {
      const room = await this.room(roomId);
      const mine = await this.row(roomId, userId);
      if (!mine || mine.left_at !== null) throw new AppError(404, 'not_member', 'you are not in this room');
      await this.departed(room, mine, quiet);
    });
  }

  /** A member is gone (left, disconnected): mark them, apply the last-moderator rule. */
  private async departed(room: RoomRow, mine: MemberRow, quiet: boolean): Promise<void> {
    const members = (await this.present(room.id)).map(facts);
    await this.db
      .updateTable('room_members')
      .set({ present: 0, left_at: Date.now(), hand_raised_at: null, invited_at: null })
      .where('room_id', '=', room.id)
      .where('user_id', '=', mine.user_id)
      .execute();
    if (mine.handle) await this.media.remove(room.media_id, mine.handle);
    if (room.status !== 'live') return;
    if (!quiet && mine.present === 1) {
      const u = (await summaries(this.db, [mine.user_id])).get(mine.user_id);
      await this.systemLine(room.id, `${u?.displayName ?? 'someone'} left`);
    }
    if (mine.role === 'moderator' && (await this.applySuccession(room, members, mine.user_id))) return;
    await this.changed(room.id);
  }

  /** Returns true when the room ended. */
  private async applySuccession(
    room: RoomRow,
    members: rules.MemberFacts[],
    leavingId: string,
  ): Promise<boolean> {
    const next = rules.succession(members, leavingId);
    if (next.kind === 'promote') {
      await this.db
        .updateTable('room_members')
        .set({ role: 'moderator' })
        .where('room_id', '=', room.id)
        .where('user_id', '=', next.userId)
        .execute();
      return false;
    }
    if (next.kind === 'end') {
      await this.endRoom(room);
      return true;
    }
    return false;
  }

  private async endRoom(room: RoomRow): Promise<void> {
    const now = Date.now();
    await this.db
      .updateTable('rooms')
      .set((eb) => ({ status: 'ended', ended_at: now, version: eb('version', '+', 1) }))
      .where('id', '=', room.id)
      .execute();
    await this.db
      .updateTable('room_members')
      .set({ present: 0, left_at: now, hand_raised_at: null, invited_at: null })
      .where('room_id', '=', room.id)
      .where('present', '=', 1)
      .execute();
    await this.media.deleteRoom(room.media_id);
    log.info('room ended', { room: room.media_id });
    this.bus.publish(roomTopic(room.id), { kind: 'ended' });
  }

  // ---- the stage ------------------------------------------------------------------------------

  async hand(userId: string, roomId: string, raised: boolean): Promise<RoomState> {
    return this.mutate(roomId, userId, async (room, members) => {
      const me = members.get(userId);
      let followed = false;
      if (raised && room.hand_raise === 'followed') {
        const stage = [...members.values()].filter((m) => m.present === 1 && m.role !== 'listener');
        followed =
          stage.length > 0 &&
          !!(await this.db
            .selectFrom('follows')
            .select('follower_id')
            .where(
              'follower_id',
              'in',
              stage.map((m) => m.user_id),
            )
            .where('followee_id', '=', userId)
            .executeTakeFirst());
      }
      throwIf(rules.canRaiseHand(roomFacts(room), me && facts(me), raised, followed));
      await this.setMember(roomId, userId, {
        hand_raised_at: raised ? (me?.hand_raised_at ?? Date.now()) : null,
      });
    });
  }

  async inviteToSpeak(actorId: string, roomId: string, targetId: string): Promise<RoomState> {
    return this.mutate(roomId, actorId, async (room, members) => {
      const target = members.get(targetId);
      throwIf(rules.canInviteToSpeak(fact(members, actorId), target && facts(target)));
      await this.setMember(roomId, targetId, { invited_at: Date.now() });
      await notify(this.db, this.bus, {
        userId: targetId,
        kind: 'speak_invite',
        fromId: actorId,
        roomId: room.id,
      });
    });
  }

  async answerInvitation(userId: string, roomId: string, accept: boolean): Promise<RoomState> {
    return this.mutate(roomId, userId, async (room, members) => {
      const me = members.get(userId);
      throwIf(rules.canAnswerInvitation(me && facts(me)));
      if (!me) return;
      if (!accept) {
        await this.setMember(roomId, userId, { invited_at: null });
        return;
      }
      await this.setMember(roomId, userId, {
        role: 'speaker',
        invited_at: null,
        hand_raised_at: null,
        stage_since: Date.now(),
      });
      await this.media.setCanPublish(room.media_id, me.handle, true);
      const u = (await summaries(this.db, [userId])).get(userId);
      await this.systemLine(roomId, `${u?.displayName ?? 'someone'} joined the stage`);
    });
  }

  async setRole(actorId: string, roomId: string, targetId: string, role: Role): Promise<RoomState> {
    return this.mutate(roomId, actorId, async (room, members) => {
      const target = members.get(targetId);
      throwIf(rules.canSetRole(fact(members, actorId), target && facts(target), role));
      if (!target || target.role === role) return;
      if (target.role === 'moderator') {
        const next = rules.succession([...members.values()].map(facts), targetId);
        if (next.kind === 'end') throw conflict('last_moderator', 'the room needs a moderator');
        if (next.kind === 'promote') await this.setMember(roomId, next.userId, { role: 'moderator' });
      }
      const now = Date.now();
      await this.setMember(roomId, targetId, {
        role,
        stage_since: role === 'listener' ? null : (target.stage_since ?? now),
        hand_raised_at: role === 'listener' ? target.hand_raised_at : null,
        invited_at: null,
      });
      const publish = rules.mayPublish({ role, present: true });
      if (publish !== rules.mayPublish(facts(target)))
        await this.media.setCanPublish(room.media_id, target.handle, publish);
    });
  }

  async mute(actorId: string, roomId: string, targetId: string): Promise<RoomState> {
    return this.mutate(roomId, actorId, async (room, members) => {
      const target = members.get(targetId);
      throwIf(rules.canMute(fact(members, actorId), target && facts(target)));
      if (target) await this.media.muteAudio(room.media_id, target.handle);
    });
  }

  async remove(actorId: string, roomId: string, targetId: string, block: boolean): Promise<RoomState> {
    return this.mutate(roomId, actorId, async (room, members) => {
      const target = members.get(targetId);
      throwIf(rules.canRemove(fact(members, actorId), target && facts(target)));
      if (!target) return;
      const now = Date.now();
      await this.setMember(roomId, targetId, {
        present: 0,
        left_at: now,
        role: 'listener',
        hand_raised_at: null,
        invited_at: null,
        stage_since: null,
      });
      if (block) {
        await this.db
          .insertInto('room_bans')
          .values({ room_id: roomId, user_id: targetId, created_at: now })
          .onConflict((oc) => oc.columns(['room_id', 'user_id']).doNothing())
          .execute();
      }
      await this.media.remove(room.media_id, target.handle);
      log.info('member removed', { room: room.media_id, handle: target.handle, block });
      this.bus.publish(roomTopic(roomId), { kind: 'removed', userId: targetId, blocked: block });
    });
  }

  async settings(actorId: string, roomId: string, handRaise: HandRaisePolicy): Promise<RoomState> {
    return this.mutate(roomId, actorId, async (_room, members) => {
      throwIf(rules.requireModerator(fact(members, actorId)));
      await this.db.updateTable('rooms').set({ hand_raise: handRaise }).where('id', '=', roomId).execute();
    });
  }

  async end(actorId: string, roomId: string): Promise<void> {
    await this.lock.run(roomId, async () => {
      const room = await this.room(roomId);
      if (room.status === 'ended') throw new AppError(410, 'room_ended');
      const mine = await this.row(roomId, actorId);
      throwIf(rules.requireModerator(mine && facts(mine)));
      await this.endRoom(room);
    });
  }

  async ping(actorId: string, roomId: string, username: string): Promise<void> {
    const room = await this.room(roomId);
    if (room.status === 'ended') throw new AppError(410, 'room_ended');
    const mine = await this.row(roomId, actorId);
    throwIf(rules.requirePresent(mine && facts(mine)));
    const target = await userByUsername(this.db, username);
    if ((await blockRelations(this.db, actorId)).has(target.id)) return; // silently: no contact across a block
    await notify(this.db, this.bus, { userId: target.id, kind: 'room_ping', fromId: actorId, roomId });
  }

  async chat(actorId: string, roomId: string, text: string): Promise<ChatMessage> {
    const room = await this.room(roomId);
    if (room.status === 'ended') throw new AppError(410, 'room_ended');
    const mine = await this.row(roomId, actorId);
    throwIf(rules.requirePresent(mine && facts(mine)));
    return this.post(roomId, actorId, text);
  }

  // ---- media webhooks -------------------------------------------------------------------------

  /** Reconciles the media node with the stage state (participant_joined / participant_left). */
  async onMediaEvent(ev: WebhookEvent): Promise<void> {
    const mediaId = ev.room?.name;
    const handle = ev.participant?.identity;
    if (!mediaId || !handle) return;
    const room = await this.db
      .selectFrom('rooms')
      .selectAll()
      .where('media_id', '=', mediaId)
      .executeTakeFirst();
    if (!room) return;
    await this.lock.run(room.id, async () => {
      const member = await q.memberByHandle(this.db, room.id, handle);
      const current = member && member.present === 1 && room.status === 'live' ? member : undefined;
      if (ev.event === 'participant_joined') {
        if (!current) {
          log.info('removing a stale media participant', { room: mediaId, handle });
          await this.media.remove(mediaId, handle);
          return;
        }
        const banned = await this.db
          .selectFrom('room_bans')
          .select('user_id')
          .where('room_id', '=', room.id)
          .where('user_id', '=', current.user_id)
          .executeTakeFirst();
        if (banned) {
          await this.media.remove(mediaId, handle);
          return;
        }
        // back within the grace — livekit-client's full reconnect reuses the token, so the handle
        if (ev.participant?.sid) this.mediaSids.set(handle, ev.participant.sid);
        this.cancelDeparture(handle);
        await this.media.setCanPublish(mediaId, handle, rules.mayPublish(facts(current)));
      } else if (ev.event === 'participant_left' && current) {
        const latest = this.mediaSids.get(handle);
        if (latest && ev.participant?.sid && latest !== ev.participant.sid) return; // an older connection
        this.mediaSids.delete(handle);
        log.info('member disconnected from media', { room: mediaId, handle });
        this.departAfterGrace(room.id, handle);
      }
    });
  }

  private cancelDeparture(handle: string): void {
    clearTimeout(this.departing.get(handle));
    this.departing.delete(handle);
  }

  /**
   * Treats a dropped media connection as a quiet leave unless the member came back meanwhile:
   * with a new handle (a page reload joins again) or on the same one (participant_joined cancels).
   */
  private departAfterGrace(roomId: string, handle: string): void {
    if (this.departing.has(handle)) return;
    const timer = setTimeout(() => {
      this.departing.delete(handle);
      void this.lock
        .run(roomId, async () => {
          const room = await this.room(roomId);
          const member = await q.memberByHandle(this.db, roomId, handle);
          // a rejoin gave the member a new handle; an explicit leave already marked them gone
          if (room?.status !== 'live' || member?.present !== 1) return;
          log.info('member gone after the reconnect grace', { room: room.media_id, handle });
          await this.departed(room, member, true);
        })
        .catch((err) =>
          log.warn('departure failed', { error: err instanceof Error ? err.message : String(err) }),
        );
    }, this.disconnectGraceMs);
    timer.unref();
    this.departing.set(handle, timer);
  }

  // ---- helpers --------------------------------------------------------------------------------

  /** Runs a change under the room's lock on a live room, then publishes the new state. */
  private async mutate(
    roomId: string,
    viewerId: string,
    change: (room: RoomRow, members: Map<string, MemberRow>) => Promise<void>,
  ): Promise<RoomState> {
    return this.lock.run(roomId, async () => {
      const room = await this.room(roomId);
      await this.assertVisible(room, viewerId);
      if (room.status === 'ended') throw new AppError(410, 'room_ended', 'the room has ended');
      const rows = await this.present(roomId);
      await change(room, new Map(rows.map((r) => [r.user_id, r])));
      return (await this.changed(roomId, viewerId)) ?? (await this.get(viewerId, roomId));
    });
  }

  private async setMember(roomId: string, userId: string, set: Partial<MemberRow>): Promise<void> {
    await this.db
      .updateTable('room_members')
      .set(set)
      .where('room_id', '=', roomId)
      .where('user_id', '=', userId)
      .execute();
  }

  /** Bumps the version and tells subscribers; returns the viewer's new state if asked. */
  private async changed(roomId: string, viewerId?: string): Promise<RoomState | undefined> {
    await this.db
      .updateTable('rooms')
      .set((eb) => ({ version: eb('version', '+', 1) }))
      .where('id', '=', roomId)
      .execute();
    const room = await this.room(roomId);
    this.bus.publish(roomTopic(roomId), { kind: 'changed', version: room.version });
    if (viewerId === undefined) return undefined;
    return project(await loadSnapshot(this.db, room), viewerId);
  }

  private async systemLine(roomId: string, text: string): Promise<void> {
    await this.post(roomId, null, text);
  }

  private async post(roomId: string, userId: string | null, text: string): Promise<ChatMessage> {
    // strictly increasing timestamps keep the chat order stable within one millisecond
    this.lastChatAt = Math.max(Date.now(), this.lastChatAt + 1);
    const msg = { id: newId('m'), room_id: roomId, user_id: userId, text, created_at: this.lastChatAt };
    await this.db.insertInto('room_messages').values(msg).execute();
    const user = userId ? ((await summaries(this.db, [userId])).get(userId) ?? null) : null;
    const message: ChatMessage = { id: msg.id, roomId, user, text, createdAt: msg.created_at };
    this.bus.publish(roomTopic(roomId), { kind: 'chat', message });
    return message;
  }
}

function roomFacts(r: RoomRow): rules.RoomFacts {
  return {
    type: r.type,
    status: r.status,
    capacity: r.capacity,
    handRaise: r.hand_raise,
    createdBy: r.created_by,
  };
}

function fact(members: Map<string, MemberRow>, userId: string): rules.MemberFacts | undefined {
  const m = members.get(userId);
  return m && facts(m);
}

function throwIf(refusal: rules.Refusal): void {
  if (refusal) throw refusal;
}
