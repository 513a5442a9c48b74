/** The stage rules as pure functions: each allowed and each refused transition, with its code. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Role } from '../api/schemas.ts';
import * as rules from './policy.ts';

const room = (over: Partial<rules.RoomFacts> = {}): rules.RoomFacts => ({
  type: 'open',
  status: 'live',
  capacity: 10,
  handRaise: 'everyone',
  createdBy: 'creator',
  ...over,
});
const member = (userId: string, role: Role, over: Partial<rules.MemberFacts> = {}): rules.MemberFacts => ({
  userId,
  role,
  present: true,
  invitedAt: null,
  handRaisedAt: null,
  stageSince: role === 'listener' ? null : 1,
  ...over,
});
const code = (r: rules.Refusal) => (r ? `${r.status} ${r.code}` : 'ok');

const join = (over: Partial<rules.JoinFacts> = {}): rules.JoinFacts => ({
  userId: 'u',
  invited: false,
  banned: false,
  blockedByModerator: false,
  alreadyPresent: false,
  presentCount: 0,
  member: false,
  ...over,
});

describe('joining', () => {
  test('refusals in order of precedence', () => {
    assert.equal(code(rules.canJoin(room({ status: 'ended' }), join({ banned: true }))), '410 room_ended');
    assert.equal(code(rules.canJoin(room(), join({ banned: true, blockedByModerator: true }))), '403 banned');
    assert.equal(code(rules.canJoin(room(), join({ blockedByModerator: true }))), '403 blocked');
    assert.equal(code(rules.canJoin(room({ type: 'closed' }), join())), '403 not_invited');
    assert.equal(code(rules.canJoin(room({ capacity: 2 }), join({ presentCount: 2 }))), '409 room_full');
  });
  test('allowed', () => {
    assert.equal(code(rules.canJoin(room({ type: 'closed' }), join({ invited: true }))), 'ok');
    assert.equal(code(rules.canJoin(room({ type: 'closed' }), join({ userId: 'creator' }))), 'ok');
    assert.equal(code(rules.canJoin(room({ type: 'social' }), join())), 'ok');
    assert.equal(
      code(rules.canJoin(room({ capacity: 2 }), join({ presentCount: 2, alreadyPresent: true }))),
      'ok',
    );
  });
  test('closed rooms are invisible to strangers', () => {
    assert.equal(
      code(rules.canSee(room({ type: 'closed' }), { userId: 'x', invited: false, member: false })),
      '404 room_not_found',
    );
    assert.equal(
      code(rules.canSee(room({ type: 'social' }), { userId: 'x', invited: false, member: false })),
      'ok',
    );
  });
});

describe('hands', () => {
  const lis = member('l', 'listener');
  test('policies', () => {
    assert.equal(
      code(rules.canRaiseHand(room({ handRaise: 'off' }), lis, true, true)),
      '403 hand_raise_disabled',
    );
    assert.equal(
      code(rules.canRaiseHand(room({ handRaise: 'followed' }), lis, true, false)),
      '403 hand_raise_followed_only',
    );
    assert.equal(code(rules.canRaiseHand(room({ handRaise: 'followed' }), lis, true, true)), 'ok');
    assert.equal(
      code(rules.canRaiseHand(room({ handRaise: 'off' }), lis, false, false)),
      'ok',
      'lowering is always allowed',
    );
    assert.equal(
      code(rules.canRaiseHand(room(), member('s', 'speaker'), true, true)),
      '409 already_on_stage',
    );
    assert.equal(code(rules.canRaiseHand(room(), undefined, true, true)), '403 not_member');
    assert.equal(code(rules.canRaiseHand(room(), { ...lis, present: false }, true, true)), '403 not_member');
  });
});

describe('stage transitions', () => {
  const mod = member('m', 'moderator');
  const spk = member('s', 'speaker');
  const lis = member('l', 'listener');
  test('invitations', () => {
    assert.equal(code(rules.canInviteToSpeak(mod, lis)), 'ok');
    assert.equal(code(rules.canInviteToSpeak(spk, lis)), '403 not_moderator');
    assert.equal(code(rules.canInviteToSpeak(lis, lis)), '403 not_moderator');
    assert.equal(code(rules.canInviteToSpeak(mod, spk)), '409 already_on_stage');
    assert.equal(code(rules.canInviteToSpeak(mod, undefined)), '404 member_not_found');
    assert.equal(code(rules.canAnswerInvitation(lis)), '409 no_invitation');
    assert.equal(code(rules.canAnswerInvitation({ ...lis, invitedAt: 5 })), 'ok');
  });
  test('role changes', () => {
    const cases: [rules.MemberFacts, rules.MemberFacts, Role, string][] = [
      [mod, spk, 'moderator', 'ok'],
      [mod, spk, 'listener', 'ok'],
      [mod, member('m2', 'moderator'), 'listener', 'ok'],
      [mod, member('m2', 'moderator'), 'speaker', 'ok'],
      [mod, lis, 'speaker', '409 not_invited_to_speak'],
      [mod, lis, 'moderator', '409 not_on_stage'],
      [spk, spk, 'listener', 'ok'],
      [spk, spk, 'moderator', '403 not_moderator'],
      [spk, lis, 'speaker', '403 not_moderator'],
      [spk, mod, 'listener', '403 not_moderator'],
      [lis, lis, 'speaker', '403 not_moderator'],
      [lis, lis, 'moderator', '403 not_moderator'],
      [lis, lis, 'listener', 'ok'],
      [mod, mod, 'speaker', 'ok'],
    ];
    for (const [actor, target, role, want] of cases)
      assert.equal(
        code(rules.canSetRole(actor, target, role)),
        want,
        `${actor.role} sets ${target.role} → ${role}`,
      );
  });
  test('mute and remove', () => {
    assert.equal(code(rules.canMute(mod, spk)), 'ok');
    assert.equal(code(rules.canMute(mod, lis)), '409 not_on_stage');
    assert.equal(code(rules.canMute(spk, mod)), '403 not_moderator');
    assert.equal(code(rules.canRemove(mod, lis)), 'ok');
    assert.equal(code(rules.canRemove(mod, mod)), '409 cannot_remove_self');
    assert.equal(code(rules.canRemove(lis, spk)), '403 not_moderator');
  });
});

describe('succession', () => {
  test('another moderator remains', () => {
    assert.deepEqual(rules.succession([member('a', 'moderator'), member('b', 'moderator')], 'a'), {
      kind: 'none',
    });
  });
  test('the oldest speaker is promoted', () => {
    const members = [
      member('a', 'moderator'),
      member('late', 'speaker', { stageSince: 30 }),
      member('early', 'speaker', { stageSince: 10 }),
      member('gone', 'speaker', { stageSince: 1, present: false }),
    ];
    assert.deepEqual(rules.succession(members, 'a'), { kind: 'promote', userId: 'early' });
  });
  test('no speaker: the room ends', () => {
    assert.deepEqual(rules.succession([member('a', 'moderator'), member('l', 'listener')], 'a'), {
      kind: 'end',
    });
  });
  test('publish rights follow the role', () => {
    assert.equal(rules.mayPublish(member('a', 'moderator')), true);
    assert.equal(rules.mayPublish(member('a', 'speaker')), true);
    assert.equal(rules.mayPublish(member('a', 'listener')), false);
    assert.equal(rules.mayPublish(member('a', 'speaker', { present: false })), false);
  });
});

describe('hallway', () => {
  const base = {
    viewerId: 'v',
    createdBy: 'c',
    member: false,
    invited: false,
    stage: ['c', 's'],
    following: new Set<string>(),
    blocks: new Set<string>(),
  };
  test('by room type', () => {
    assert.equal(rules.inHallway('open', base), true);
    assert.equal(rules.inHallway('social', base), false);
    assert.equal(rules.inHallway('social', { ...base, following: new Set(['s']) }), true);
    assert.equal(rules.inHallway('closed', base), false);
    assert.equal(rules.inHallway('closed', { ...base, invited: true }), true);
    assert.equal(rules.inHallway('closed', { ...base, viewerId: 'c' }), true);
  });
  test('a block either way with someone on stage hides the room', () => {
    assert.equal(rules.inHallway('open', { ...base, blocks: new Set(['s']) }), false);
    assert.equal(rules.inHallway('open', { ...base, blocks: new Set(['listener']) }), true);
  });
});
