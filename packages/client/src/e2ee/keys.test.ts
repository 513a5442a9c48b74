// The key schedule between real KeyManagers (in-memory data packets, FrameCrypto as the worker):
// the stage is an MLS group (adds/removes by the key holder from RoomState, Welcome/commit as data
// packets, keys from the exporter, one KID leaf per MLS leaf, the same security code everywhere);
// a newcomer cannot decrypt what was said before it joined; a removed listener cannot decrypt
// after the removal rekey; a KeyPackage the key directory does not back is not added; when the
// key holder leaves, the next stage member takes over; key messages from a non-stage member or with
// a bad signature are ignored. Devices hold non-extractable keys only (as a browser's do); the
// stage roster handed to listeners lists the device keys (what speaker signatures verify against),
// not the ephemeral MLS leaf keys.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Member, RoomState } from '@sotto/app/api';
import { createStageKeyPackage, exportPublicKey, generateWrapKeyPair } from '@sotto/e2ee';
import { fromB64u, toB64u } from './b64.ts';
import { FrameCrypto } from './frame-crypto.ts';
import { KeyManager, type LocalDevice } from './keys.ts';
import { signingKeyPair } from './test-keys.ts';

interface Peer {
  handle: string;
  member: Member;
  keys: KeyManager;
  frames: FrameCrypto;
  logs: string[];
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
    hardened: false,
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
  async function join(
    handle: string,
    role: Member['role'],
    o: { foreignBinding?: boolean } = {},
  ): Promise<Peer> {
    const sign = await signingKeyPair();
    const hpke = await generateWrapKeyPair();
    const signingPublicKey = sign.pub;
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
    const device: LocalDevice = {
      userId: member.user.id,
      deviceId: member.device?.id ?? '',
      signingKey: sign.priv,
      signingPublicKey,
      hpke,
      hpkePublicKey: await exportPublicKey(hpke.publicKey),
    };
    const deliver = (payload: Uint8Array, to: string[]) => {
      for (const h of to) setTimeout(() => peers.get(h)?.keys.receive(payload, handle), 1);
    };
    const logs: string[] = [];
    const keys = new KeyManager({
      roomId: 'room1',
      handle,
      device,
      log: (m) => logs.push(m),
      sink: frames,
      send: (payload, to) => {
        if (o.foreignBinding) void swapKeyPackage(payload, device).then((p) => deliver(p, to));
        else deliver(payload, to);
      },
      leaveBatchMs: 60_000,
      graceMs: 60_000,
      wantRetryMs: 200,
    });
    const peer = { handle, member, keys, frames, logs };
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
  function setRole(p: Peer, role: Member['role']): void {
    p.member.role = role;
    // RoomState lists moderators, then speakers, in the order they came on stage
    members.splice(members.indexOf(p.member), 1);
    members.push(p.member);
    publish();
  }
  return { join, leave, setRole, peers };
}

test('join ratchets forward, removal rekeys; only stage members hand out keys', async () => {
  const r = room();
  const mod = await r.join('h_mod', 'moderator');
  await until(() => mod.keys.isHolder && mod.keys.generation !== null);
  const g1 = mod.keys.generation ?? 0;
  const ann = await r.join('h_ann', 'listener');
  await until(() => ann.keys.generation === g1);
  const heardByAnn = await mod.frames.encrypt(opus(1));
  assert.ok(heardByAnn);
  assert.deepEqual(await ann.frames.decrypt(heardByAnn), opus(1));

  // said before Bea joins: Bea must not be able to read it
  const before = (await mod.frames.encrypt(opus(2))) as Uint8Array;
  const bea = await r.join('h_bea', 'listener');
  await until(() => bea.keys.generation === g1);
  await until(() => hears(mod, bea));
  assert.equal(await bea.frames.decrypt(before), null, 'the newcomer cannot decrypt earlier audio');
  const after = (await mod.frames.encrypt(opus(4))) as Uint8Array;
  assert.deepEqual(await ann.frames.decrypt(after), opus(4), 'earlier members ratchet along');

  // a speaker joins the stage (MLS add: a new epoch) and gets its own KID leaf: both are heard
  const sam = await r.join('h_sam', 'speaker');
  await until(() => sam.keys.inStageGroup);
  await until(() => hears(sam, ann));
  const g2 = sam.keys.generation ?? 0;
  assert.ok(g2 > g1);

  // Ann is removed: the moderator rekeys at once; Ann's keys do not open the new generation
  const annFrames = ann.frames;
  r.leave(ann);
  mod.keys.rekeyNow();
  await until(() => (mod.keys.generation ?? 0) > g2);
  await until(
    () => bea.keys.generation === mod.keys.generation && sam.keys.generation === mod.keys.generation,
  );
  await until(() => hears(mod, bea));
  await until(() => hears(mod, sam));
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

const SIG_LABEL = new TextEncoder().encode('sotto/e2ee/v1/key-message\0');

/**
 * Test: replaces the KeyPackage in a `want` by one whose credential names `device` (and its
 * published key) but whose leaf binding another Ed25519 key signed, and re-signs the message with
 * the real device key (so the message itself is genuine).
 */
async function swapKeyPackage(payload: Uint8Array, device: LocalDevice): Promise<Uint8Array> {
  const env = JSON.parse(new TextDecoder().decode(payload)) as { b: string; s: string };
  const body = JSON.parse(env.b) as { t: string; kp?: string };
  if (body.t !== 'want' || !body.kp) return payload;
  const other = await signingKeyPair();
  const forged = await createStageKeyPackage(
    {
      identity: {
        userId: device.userId,
        deviceId: device.deviceId,
        signingPublicKey: device.signingPublicKey,
        hpkePublicKey: device.hpkePublicKey,
      },
      signingKey: other.priv,
    },
    'room1',
  );
  const text = JSON.stringify({ ...body, kp: toB64u(forged.message) });
  const bytes = new TextEncoder().encode(text);
  const signed = new Uint8Array(SIG_LABEL.length + bytes.length);
  signed.set(SIG_LABEL);
  signed.set(bytes, SIG_LABEL.length);
  const sig = new Uint8Array(await crypto.subtle.sign({ name: 'Ed25519' }, device.signingKey, signed));
  return new TextEncoder().encode(JSON.stringify({ b: text, s: toB64u(sig) }));
}

/** `from`'s next frame decrypts at `to`. */
async function hears(from: Peer, to: Peer): Promise<boolean> {
  const f = await from.frames.encrypt(opus(100));
  return f !== null && (await to.frames.decrypt(f)) !== null;
}

test('the stage is an MLS group: Welcome/commit by the key holder, per-leaf KIDs, security code, take-over', async () => {
  const r = room();
  const mod = await r.join('h_mod', 'moderator');
  await until(() => mod.keys.isHolder && mod.keys.inStageGroup);
  const gen0 = mod.keys.generation ?? 0;
  const ann = await r.join('h_ann', 'listener');
  const sam = await r.join('h_sam', 'speaker');
  await until(() => sam.keys.inStageGroup && mod.keys.generation === sam.keys.generation);
  assert.ok((sam.keys.generation ?? 0) > gen0, 'adding a speaker starts a new epoch');
  assert.ok(mod.keys.securityCode, 'stage members have a security code');
  assert.equal(sam.keys.securityCode, mod.keys.securityCode, 'the same code on both sides');
  assert.match(mod.keys.securityCode ?? '', /^\d{5}( \d{5}){5}$/);
  assert.equal(ann.keys.securityCode, null, 'listeners are not in the MLS group');
  await until(() => ann.keys.generation === sam.keys.generation);
  // both speakers are heard by the listener and by each other, each under its own KID leaf
  await until(() => hears(sam, ann));
  await until(() => hears(mod, ann));
  await until(() => hears(sam, mod));
  await until(() => hears(mod, sam));
  const gen = sam.keys.generation ?? 0;
  const roster = ann.keys.rosters.get(gen);
  assert.equal(roster?.size, 2, 'listeners get the stage roster (leaf → signing key)');
  // ... of device keys (speakers sign with those), not the ephemeral MLS leaf keys
  const published = [mod, sam].map((p) => p.member.device?.signingPublicKey).sort();
  assert.deepEqual([...(roster?.values() ?? [])].map((k) => toB64u(k)).sort(), published);
  assert.deepEqual(
    [...(mod.keys.rosters.get(gen)?.values() ?? [])].map((k) => toB64u(k)).sort(),
    published,
    'the same roster on the stage',
  );
  assert.equal(fromB64u(published[0] ?? '').length, 32);

  // a speaker whose KeyPackage's leaf binding is signed by a key the directory does not list for
  // its device is not added
  const mallory = await r.join('h_mal', 'speaker', { foreignBinding: true });
  await until(() => mallory.keys.generation !== null); // listens (a key wrap), never sends
  await new Promise((res) => setTimeout(res, 600));
  assert.equal(mallory.keys.inStageGroup, false);
  assert.equal(await mallory.frames.encrypt(opus(1)), null, 'no send key outside the group');
  assert.equal(mod.keys.generation, gen, 'the refused add left the epoch alone');
  assert.ok(
    mod.logs.some((l) => l.includes('stage commit refused') && l.includes('bad_binding')),
    'refused for its binding',
  );
  r.leave(mallory);

  // Sam goes back to the audience: the holder removes its leaf; Sam cannot read the new epoch
  // until it gets the listener wrap, and cannot send any more
  r.setRole(sam, 'listener');
  await until(() => (mod.keys.generation ?? 0) > gen && sam.keys.generation === mod.keys.generation);
  assert.equal(sam.keys.inStageGroup, false);
  assert.equal(await sam.frames.encrypt(opus(1)), null, 'off the stage: nothing is sent');
  await until(() => hears(mod, sam));

  // the key holder leaves: the next stage member takes over (continues the group, new epoch)
  r.setRole(sam, 'speaker');
  await until(() => sam.keys.inStageGroup && sam.keys.generation === mod.keys.generation);
  const before = sam.keys.generation ?? 0;
  const modFrames = mod.frames;
  r.leave(mod);
  await until(() => sam.keys.isHolder && (sam.keys.generation ?? 0) > before);
  await until(() => ann.keys.generation === sam.keys.generation);
  await until(() => hears(sam, ann));
  const secret = (await sam.frames.encrypt(opus(9))) as Uint8Array;
  assert.equal(await modFrames.decrypt(secret), null, 'the old holder cannot read the new epoch');
  for (const p of r.peers.values()) p.keys.close();
});
