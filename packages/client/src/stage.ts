/**
 * Pure stage-state helpers: snapshot ordering, the handle → member map (the media node knows
 * people only by their per-join handle), and roles. No DOM, no livekit-client.
 */
import type { ChatMessage, Member, RoomState } from '@sotto/app/api';

/**
 * Whether `next` should replace `current`: snapshots carry a version that increases with every
 * change, so an older one (a late HTTP answer, a stale SSE event) is dropped. An equal version is
 * the same state (e.g. the snapshot after an SSE reconnect) and is accepted.
 */
export function shouldApply(current: RoomState | null | undefined, next: RoomState): boolean {
  if (!current) return true;
  if (current.id !== next.id) return false;
  return next.version >= current.version;
}

/** Every member the viewer can see, stage first (a member appears once). */
export function allMembers(state: RoomState): Member[] {
  const seen = new Set<string>();
  const out: Member[] = [];
  for (const m of [...state.stage, ...state.audience, ...state.handQueue, ...(state.me ? [state.me] : [])]) {
    if (seen.has(m.user.id)) continue;
    seen.add(m.user.id);
    out.push(m);
  }
  return out;
}

/** Media identity (handle) → member. */
export function membersByHandle(state: RoomState): Map<string, Member> {
  const map = new Map<string, Member>();
  for (const m of allMembers(state)) map.set(m.handle, m);
  return map;
}

/** The user ids behind a set of media identities; unknown handles are skipped. */
export function usersForHandles(state: RoomState, handles: Iterable<string>): Set<string> {
  const byHandle = membersByHandle(state);
  const out = new Set<string>();
  for (const h of handles) {
    const m = byHandle.get(h);
    if (m) out.add(m.user.id);
  }
  return out;
}

export function isModerator(state: RoomState): boolean {
  return state.me?.role === 'moderator';
}

export function isOnStage(state: RoomState): boolean {
  return state.me?.role === 'moderator' || state.me?.role === 'speaker';
}

export function findMember(state: RoomState, userId: string): Member | undefined {
  return allMembers(state).find((m) => m.user.id === userId);
}

/** Appends chat messages in time order, dropping ones already present (SSE replay, own POST echo). */
export function mergeChat(
  existing: readonly ChatMessage[],
  incoming: readonly ChatMessage[],
  limit = 200,
): ChatMessage[] {
  const ids = new Set(existing.map((m) => m.id));
  const merged = [...existing];
  for (const m of incoming) {
    if (ids.has(m.id)) continue;
    ids.add(m.id);
    merged.push(m);
  }
  merged.sort((a, b) => a.createdAt - b.createdAt);
  return merged.length > limit ? merged.slice(merged.length - limit) : merged;
}

/** Two sets with the same members. */
export function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  if (a.size !== b.size) return false;
  for (const v of a) if (!b.has(v)) return false;
  return true;
}
