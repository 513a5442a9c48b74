/** Helpers for room tests: create a room, join people, find members. */
import assert from 'node:assert/strict';
import type { JoinRoomResponse, Problem, RoomState } from '../../src/api/schemas.ts';
import type { Client, Res } from './stack.ts';

export async function createRoom(mod: Client, body: Record<string, unknown> = {}): Promise<RoomState> {
  const r = await mod.post<RoomState>('/api/rooms', { topic: 'a room', ...body });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

export async function join(c: Client, roomId: string): Promise<JoinRoomResponse> {
  const r = await c.post<JoinRoomResponse>(`/api/rooms/${roomId}/join`);
  assert.equal(r.status, 200, `${c.username} join: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Asserts a problem+json response with this status and code. */
export function assertProblem(r: Res<unknown>, status: number, code: string): void {
  assert.equal(r.status, status, `expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.body)}`);
  assert.match(r.type, /^application\/problem\+json/);
  const p = r.body as Problem;
  assert.equal(p.code, code);
  assert.equal(p.status, status);
  assert.equal(typeof p.title, 'string');
  assert.equal(typeof p.type, 'string');
}

export function roleOf(state: RoomState, userId: string): string | undefined {
  return [...state.stage, ...state.audience].find((m) => m.user.id === userId)?.role;
}

/** A room with a moderator, a speaker (invited and accepted) and a listener, all joined. */
export async function stagedRoom(
  mod: Client,
  speaker: Client,
  listener: Client,
  body: Record<string, unknown> = {},
): Promise<RoomState> {
  const room = await createRoom(mod, body);
  await join(mod, room.id);
  await join(speaker, room.id);
  await join(listener, room.id);
  const inv = await mod.post<RoomState>(`/api/rooms/${room.id}/members/${speaker.id}/invite`);
  assert.equal(inv.status, 200, JSON.stringify(inv.body));
  const acc = await speaker.post<RoomState>(`/api/rooms/${room.id}/invitation`, { accept: true });
  assert.equal(acc.status, 200, JSON.stringify(acc.body));
  assert.equal(acc.body.me?.role, 'speaker');
  return acc.body;
}
