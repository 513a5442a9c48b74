import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatMessage, Member, RoomState } from '@sotto/app/api';
import {
  allMembers,
  isModerator,
  membersByHandle,
  mergeChat,
  shouldApply,
  usersForHandles,
} from './stage.ts';

function member(id: string, role: Member['role'], handle = `h-${id}`): Member {
  return {
    user: { id, username: `user_${id}`, displayName: `User ${id}` },
    role,
    handle,
    handRaisedAt: null,
    invitedToSpeak: false,
    joinedAt: 1,
    device: null,
  };
}

function state(version: number, extra: Partial<RoomState> = {}): RoomState {
  const mod = member('1', 'moderator');
  return {
    id: 'room1',
    topic: 't',
    type: 'open',
    status: 'live',
    club: null,
    capacity: 5000,
    handRaise: 'everyone',
    hardened: false,
    createdAt: 0,
    me: mod,
    stage: [mod, member('2', 'speaker')],
    audience: [member('3', 'listener')],
    listenerCount: 1,
    handQueue: [],
    version,
    ...extra,
  };
}

test('older snapshots are dropped, equal and newer applied', () => {
  assert.equal(shouldApply(null, state(1)), true);
  assert.equal(shouldApply(state(5), state(4)), false);
  assert.equal(shouldApply(state(5), state(5)), true);
  assert.equal(shouldApply(state(5), state(6)), true);
  assert.equal(shouldApply(state(5), { ...state(9), id: 'other' }), false);
});

test('handles map to members; unknown handles are skipped', () => {
  const s = state(1);
  const map = membersByHandle(s);
  assert.equal(map.get('h-2')?.user.id, '2');
  assert.equal(map.get('h-3')?.role, 'listener');
  assert.deepEqual([...usersForHandles(s, ['h-1', 'h-3', 'h-unknown'])].sort(), ['1', '3']);
});

test('members are listed once, stage first', () => {
  const s = state(1, { handQueue: [member('3', 'listener')] });
  assert.deepEqual(
    allMembers(s).map((m) => m.user.id),
    ['1', '2', '3'],
  );
  assert.equal(isModerator(s), true);
  assert.equal(isModerator({ ...s, me: member('3', 'listener') }), false);
});

test('chat merges in time order without duplicates', () => {
  const msg = (id: string, at: number): ChatMessage => ({
    id,
    roomId: 'room1',
    user: null,
    text: id,
    createdAt: at,
  });
  const merged = mergeChat([msg('a', 1), msg('c', 3)], [msg('b', 2), msg('c', 3)]);
  assert.deepEqual(
    merged.map((m) => m.id),
    ['a', 'b', 'c'],
  );
  assert.equal(mergeChat([], [msg('a', 1), msg('b', 2), msg('c', 3)], 2).length, 2);
});
