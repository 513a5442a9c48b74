/** The hallway, rooms, the stage, chat, and each room's event stream. */
import { createRoute, z } from '@hono/zod-openapi';
import { isHttps, requireUser } from '../../auth/sessions.ts';
import { roomTopic } from '../../realtime/bus.ts';
import { type Channel, HEARTBEAT_MS, sseResponse } from '../../realtime/sse.ts';
import { eventForHost } from '../../social/clubs.ts';
import type { Api } from '../app.ts';
import type { Services } from '../env.ts';
import { eventStream, IdParam, jsonBody, MemberParams, noContent, ok } from '../openapi.ts';
import {
  ChatMessage,
  CreateRoomRequest,
  HandRequest,
  InvitationAnswer,
  JoinRoomRequest,
  JoinRoomResponse,
  LeaveRoomRequest,
  PingRequest,
  RemoveMemberRequest,
  RoomCard,
  RoomSettingsRequest,
  RoomState,
  SendChatRequest,
  SetRoleRequest,
} from '../schemas.ts';

const tags = ['rooms'];

export function roomRoutes(app: Api, s: Services): void {
  app.openapi(
    createRoute({ method: 'get', path: '/api/hallway', tags, responses: ok(z.array(RoomCard)) }),
    async (c) => c.json(await s.rooms.hallway(requireUser(c).id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms',
      tags,
      request: jsonBody(CreateRoomRequest),
      responses: ok(RoomState),
    }),
    async (c) => {
      const user = requireUser(c);
      const body = c.req.valid('json');
      // a room for an event: only its host (or a club admin) can start it
      if (body.eventId) await eventForHost(s.db, body.eventId, user.id);
      const state = await s.rooms.create(user.id, body);
      if (body.eventId)
        await s.db.updateTable('events').set({ room_id: state.id }).where('id', '=', body.eventId).execute();
      return c.json(state, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/rooms/{id}',
      tags,
      request: { params: IdParam },
      responses: ok(RoomState),
    }),
    async (c) => c.json(await s.rooms.get(requireUser(c).id, c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/join',
      tags,
      request: { params: IdParam, ...jsonBody(JoinRoomRequest, false) },
      responses: ok(JoinRoomResponse),
    }),
    async (c) => {
      const user = requireUser(c);
      const body = c.req.valid('json') as Partial<JoinRoomRequest> | undefined;
      const joined = await s.rooms.join(user.id, c.req.valid('param').id, body?.deviceId);
      return c.json({ mediaUrl: mediaUrl(c.req.header('host'), isHttps(c), s), ...joined }, 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/leave',
      tags,
      request: { params: IdParam, ...jsonBody(LeaveRoomRequest, false) },
      responses: noContent,
    }),
    async (c) => {
      const body = c.req.valid('json') as Partial<LeaveRoomRequest> | undefined;
      await s.rooms.leave(requireUser(c).id, c.req.valid('param').id, body?.quiet ?? false);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/hand',
      tags,
      request: { params: IdParam, ...jsonBody(HandRequest) },
      responses: ok(RoomState),
    }),
    async (c) =>
      c.json(await s.rooms.hand(requireUser(c).id, c.req.valid('param').id, c.req.valid('json').raised), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/members/{userId}/invite',
      tags,
      request: { params: MemberParams },
      responses: ok(RoomState),
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      return c.json(await s.rooms.inviteToSpeak(requireUser(c).id, id, userId), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/invitation',
      tags,
      request: { params: IdParam, ...jsonBody(InvitationAnswer) },
      responses: ok(RoomState),
    }),
    async (c) =>
      c.json(
        await s.rooms.answerInvitation(
          requireUser(c).id,
          c.req.valid('param').id,
          c.req.valid('json').accept,
        ),
        200,
      ),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/members/{userId}/role',
      tags,
      request: { params: MemberParams, ...jsonBody(SetRoleRequest) },
      responses: ok(RoomState),
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      return c.json(await s.rooms.setRole(requireUser(c).id, id, userId, c.req.valid('json').role), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/members/{userId}/mute',
      tags,
      request: { params: MemberParams },
      responses: ok(RoomState),
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      return c.json(await s.rooms.mute(requireUser(c).id, id, userId), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/members/{userId}/remove',
      tags,
      request: { params: MemberParams, ...jsonBody(RemoveMemberRequest, false) },
      responses: ok(RoomState),
    }),
    async (c) => {
      const { id, userId } = c.req.valid('param');
      const body = c.req.valid('json') as Partial<RemoveMemberRequest> | undefined;
      return c.json(await s.rooms.remove(requireUser(c).id, id, userId, body?.block ?? false), 200);
    },
  );
  app.openapi(
    createRoute({
      method: 'patch',
      path: '/api/rooms/{id}/settings',
      tags,
      request: { params: IdParam, ...jsonBody(RoomSettingsRequest) },
      responses: ok(RoomState),
    }),
    async (c) =>
      c.json(
        await s.rooms.settings(requireUser(c).id, c.req.valid('param').id, c.req.valid('json').handRaise),
        200,
      ),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/end',
      tags,
      request: { params: IdParam },
      responses: noContent,
    }),
    async (c) => {
      await s.rooms.end(requireUser(c).id, c.req.valid('param').id);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/ping',
      tags,
      request: { params: IdParam, ...jsonBody(PingRequest) },
      responses: noContent,
    }),
    async (c) => {
      await s.rooms.ping(requireUser(c).id, c.req.valid('param').id, c.req.valid('json').username);
      return c.body(null, 204);
    },
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/rooms/{id}/chat',
      tags,
      request: { params: IdParam },
      responses: ok(z.array(ChatMessage)),
    }),
    async (c) => c.json(await s.rooms.chatHistory(requireUser(c).id, c.req.valid('param').id), 200),
  );
  app.openapi(
    createRoute({
      method: 'post',
      path: '/api/rooms/{id}/chat',
      tags,
      request: { params: IdParam, ...jsonBody(SendChatRequest) },
      responses: ok(ChatMessage),
    }),
    async (c) =>
      c.json(await s.rooms.chat(requireUser(c).id, c.req.valid('param').id, c.req.valid('json').text), 200),
  );
  app.openapi(
    createRoute({
      method: 'get',
      path: '/api/rooms/{id}/events',
      tags,
      request: { params: IdParam },
      responses: eventStream(
        '`state` (RoomState), `chat` (ChatMessage), `ended` ({}), `removed` ({ blocked })',
      ),
    }),
    async (c) => {
      const user = requireUser(c);
      const roomId = c.req.valid('param').id;
      await s.rooms.requireMember(roomId, user.id);
      let refreshQueued = false;
      const refresh = (ch: Channel) => {
        if (refreshQueued) return;
        refreshQueued = true;
        ch.queue(async (st) => {
          refreshQueued = false;
          const state = await s.rooms.viewFor(roomId, user.id);
          if (!state) return ch.close();
          await st.writeSSE({ event: 'state', data: JSON.stringify(state) });
        });
      };
      return sseResponse(c, s.bus, s.streams, roomTopic(roomId), s.cfg.sseHeartbeatMs ?? HEARTBEAT_MS, {
        onOpen: refresh,
        onEvent: (ev, ch) => {
          if (ev.kind === 'changed') refresh(ch);
          else if (ev.kind === 'chat') ch.send('chat', ev.message);
          else if (ev.kind === 'ended') {
            ch.send('ended', {});
            ch.queue(async () => ch.close());
          } else if (ev.kind === 'removed' && ev.userId === user.id) {
            ch.send('removed', { blocked: ev.blocked });
            ch.queue(async () => ch.close());
          }
        },
      }) as never;
    },
  );
}

/** The media node's WebSocket URL: configured, or the same host the client reached us on. */
function mediaUrl(host: string | undefined, https: boolean, s: Services): string {
  if (s.cfg.media.publicUrl) return s.cfg.media.publicUrl;
  return `${https ? 'wss' : 'ws'}://${host ?? 'localhost'}`;
}
