// The key schedule between real KeyManagers (in-memory data packets, FrameCrypto as the worker):
// a newcomer cannot decrypt what was said before it joined; a removed listener cannot decrypt
// after the removal rekey; key messages from a non-stage member or with a bad signature are ignored.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Member, RoomState } from '@sotto/app/api';
import { exportPublicKey, generateWrapKeyPair } from '@sotto/e2ee';
import { toB64u } from './b64.ts';
import { FrameCrypto } from './frame-crypto.ts';
import { KeyManager } from './keys.ts';

interface Peer {
  handle: string;
  member: Member;
  keys: KeyManager;
  frames: FrameCrypto;
}

const opus = (n: number) => Uint8Array.from({ length: 80 }, (_, i) => (i * 13 + n) & 0xff);
const tick = () => new Promise((r) => setTimeout(r, 5));
async function until(ok: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error('timed out');
    await tick();
  }
}

function room() {
  const peers = new Map<string, Peer>();
  const members: Member[] = [];
  let version = 0;
  const state = (): RoomState => ({
    id: 'room1',
    topic: 't',
    type: 'open',
    status: 'live',
    club: null,
    capacity: 100,
    handRaise: 'everyone',
    createdAt: 0,
    me: null,
    stage: members.filter((m) => m.role !== 'listener'),
    audience: members.filter((m) => m.role === 'listener'),
    listenerCount: members.filter((m) => m.role === 'listener').length,
    handQueue: [],
    version: ++version,
  });
  const publish = () => {
    const s = state();
    for (const p of peers.values()) p.keys.updateState(s);
  };
  async function join(handle: string, role: Member['role']): Promise<Peer> {
    const sign = (await crypto.subtle.generateKey({ name: 'Ed25519' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const hpke = await generateWrapKeyPair();
    const signingPublicKey = new Uint8Array(await crypto.subtle.exportKey('raw', sign.publicKey));
    const member: Member = {
      user: { id: `u_${handle}`, username: handle, displayName: handle },
      role,
      handle,
      handRaisedAt: null,
      invitedToSpeak: false,
      joinedAt: Date.now(),
      device: {
        id: `d_${handle}xxxx`,
        signingPublicKey: toB64u(signingPublicKey),
        hpkePublicKey: toB64u(await exportPublicKey(hpke.publicKey)),
      },
    };
    const frames = new FrameCrypto();
    const keys = new KeyManager({
      roomId: 'room1',
      handle,
      device: { deviceId: member.device?.id ?? '', signingKey: sign.privateKey, signingPublicKey, hpke },
      sink: frames,
      send: (payload, to) => {
        for (const h of to) setTimeout(() => peers.get(h)?.keys.receive(payload, handle), 1);
      },
      leaveBatchMs: 60_000,
      graceMs: 60_000,
    });
    const peer = { handle, member, keys, frames };
    peers.set(handle, peer);
    members.push(member);
    publish();
    keys.connected();
    return peer;
  }
  function leave(p: Peer): void {
    members.splice(members.indexOf(p.member), 1);
    p.keys.close();
    peers.delete(p.handle);
    publish();
  }
  return { join, leave, peers };
}

test('join ratchets forward, removal rekeys; only stage members hand out keys', async () => {
  const r = room();
  const mod = await r.join('h_mod', 'moderator');
  await until(() => mod.keys.isHolder && mod.keys.generation === 1);
  const ann = await r.join('h_ann', 'listener');
  await until(() => ann.keys.generation === 1);
  const heardByAnn = await mod.frames.encrypt(opus(1));
  assert.ok(heardByAnn);
  assert.deepEqual(await ann.frames.decrypt(heardByAnn), opus(1));

  // said before Bea joins: Bea must not be able to read it
  const before = (await mod.frames.encrypt(opus(2))) as Uint8Array;
  const bea = await r.join('h_bea', 'listener');
  await until(() => bea.keys.generation === 1);
  await until(async () => {
    const f = await mod.frames.encrypt(opus(3));
    return f !== null && (await bea.frames.decrypt(f)) !== null;
  });
  assert.equal(await bea.frames.decrypt(before), null, 'the newcomer cannot decrypt earlier audio');
  const after = (await mod.frames.encrypt(opus(4))) as Uint8Array;
  assert.deepEqual(await ann.frames.decrypt(after), opus(4), 'earlier members ratchet along');

  // a speaker joins the stage and gets its own KID leaf: both speakers are heard
  const sam = await r.join('h_sam', 'speaker');
  await until(async () => {
    const f = await sam.frames.encrypt(opus(5));
    return f !== null && (await ann.frames.decrypt(f)) !== null;
  });

  // Ann is removed: the moderator rekeys at once; Ann's keys do not open the new generation
  const annFrames = ann.frames;
  r.leave(ann);
  mod.keys.rekeyNow();
  await until(() => bea.keys.generation === 2 && sam.keys.generation === 2);
  await until(async () => {
    const f = await mod.frames.encrypt(opus(6));
    return f !== null && (await bea.frames.decrypt(f)) !== null;
  });
  const secret = (await mod.frames.encrypt(opus(7))) as Uint8Array;
  assert.equal(await annFrames.decrypt(secret), null, 'the removed listener cannot decrypt after the rekey');
  assert.deepEqual(await sam.frames.decrypt(secret), opus(7));

  // replayed and injected frames are dropped
  assert.equal(await sam.frames.decrypt(secret), null, 'replay');
  assert.equal(await sam.frames.decrypt(opus(8)), null, 'injected plaintext');

  // a listener cannot hand out keys: Bea's forged "key" message is ignored by Sam
  const gen = sam.keys.generation;
  r.peers.get('h_sam')?.keys.receive(new TextEncoder().encode('{"b":"{}","s":"AAAA"}'), 'h_bea');
  await tick();
  assert.equal(sam.keys.generation, gen);
  for (const p of r.peers.values()) p.keys.close();
});
