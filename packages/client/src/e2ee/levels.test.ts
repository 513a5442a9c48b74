import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ratchetForward } from '@sotto/e2ee';
import { FrameCrypto } from './frame-crypto.ts';
import { LevelChannel } from './levels.ts';

const base = new Uint8Array(16).fill(7);
const ADA = new Uint8Array(32).fill(1); // device signing keys
const EVE = new Uint8Array(32).fill(2);

/** A room at generation 1 where leaf 0 is Ada's device; handles h_ada, h_eve. */
function member(): LevelChannel {
  const rosters = new Map([[1, new Map([[0, ADA]])]]);
  const keys = new Map([
    ['h_ada', ADA],
    ['h_eve', EVE],
  ]);
  const ch = new LevelChannel(
    () => rosters,
    (h) => keys.get(h),
  );
  ch.setBaseKey(1, 0, base);
  return ch;
}

test('a speaker’s level reaches members, fixed size whether speaking or not', async () => {
  const ada = member();
  ada.setSendKey({ generation: 1, step: 0, leaf: 0 });
  const bob = member();
  const loud = await ada.seal({ level: 0.8, speaking: true });
  const quiet = await ada.seal({ level: 0, speaking: false });
  assert.ok(loud && quiet);
  assert.equal(loud.length, quiet.length, 'speech does not change the size');
  const r1 = await bob.open(loud, 'h_ada');
  assert.deepEqual(r1, { level: 204 / 255, speaking: true });
  assert.deepEqual(await bob.open(quiet, 'h_ada'), { level: 0, speaking: false });
  assert.equal(await bob.open(loud, 'h_ada'), null, 'a replay is dropped');
  assert.equal(bob.stats.received, 2);
  assert.equal(bob.stats.rejected.undecryptable, 1);
});

test('only the stage member at the KID’s leaf may send under it; forgeries do not move the window', async () => {
  const ada = member();
  ada.setSendKey({ generation: 1, step: 0, leaf: 0 });
  const bob = member();
  // Eve holds the room key (a listener) and encrypts under Ada's leaf: the node stamps Eve
  const eve = member();
  eve.setSendKey({ generation: 1, step: 0, leaf: 0 });
  for (let i = 0; i < 5; i++) await eve.seal({ level: 1, speaking: true }); // counters ahead of Ada
  const forged = await eve.seal({ level: 1, speaking: true });
  assert.ok(forged);
  assert.equal(await bob.open(forged, 'h_eve'), null);
  assert.equal(bob.stats.rejected.wrong_sender, 1);
  assert.equal(await bob.open(forged, undefined), null);
  assert.equal(bob.stats.rejected.no_sender, 1);
  // a leaf nobody holds, an unknown handle
  const stranger = member();
  stranger.setSendKey({ generation: 1, step: 0, leaf: 5 });
  assert.equal(
    await bob.open((await stranger.seal({ level: 1, speaking: true })) as Uint8Array, 'h_ada'),
    null,
  );
  assert.equal(bob.stats.rejected.not_on_stage, 1);
  // a generation whose roster has not reached us yet
  stranger.setBaseKey(2, 0, base);
  stranger.setSendKey({ generation: 2, step: 0, leaf: 0 });
  assert.equal(
    await bob.open((await stranger.seal({ level: 1, speaking: true })) as Uint8Array, 'h_ada'),
    null,
  );
  assert.equal(bob.stats.rejected.no_roster, 1);
  assert.equal(await bob.open(forged, 'h_nobody'), null);
  // Ada's own first message still opens: the forgeries never reached the replay window
  assert.deepEqual(await bob.open((await ada.seal({ level: 0.5, speaking: true })) as Uint8Array, 'h_ada'), {
    level: 128 / 255,
    speaking: true,
  });
});

test('levels use their own keys: audio frame keys do not open them, garbage is rejected', async () => {
  const ada = member();
  ada.setSendKey({ generation: 1, step: 0, leaf: 0 });
  const msg = (await ada.seal({ level: 0.3, speaking: true })) as Uint8Array;
  const audio = new FrameCrypto();
  audio.setBaseKey(1, 0, base);
  assert.equal(await audio.decrypt(msg), null, 'the audio keys of the same KID do not open it');
  const bob = member();
  assert.equal(await bob.open(Uint8Array.of(1, 2, 3), 'h_ada'), null);
  const flipped = Uint8Array.from(msg);
  flipped[flipped.length - 1] ^= 1;
  assert.equal(await bob.open(flipped, 'h_ada'), null);
  assert.equal(bob.stats.rejected.undecryptable, 1);
  const r = bob.stats.rejected;
  assert.ok((r.malformed ?? 0) + (r.no_roster ?? 0) + (r.not_on_stage ?? 0) >= 1);
  // without a send key nothing is sent
  assert.equal(await member().seal({ level: 1, speaking: true }), null);
});

test('members anchored at a later ratchet step derive the same level keys', async () => {
  const ada = member();
  ada.setSendKey({ generation: 1, step: 2, leaf: 0 });
  const msg = (await ada.seal({ level: 1, speaking: true })) as Uint8Array;
  const rosters = new Map([[1, new Map([[0, ADA]])]]);
  const late = new LevelChannel(
    () => rosters,
    () => ADA,
  );
  late.setBaseKey(1, 2, await ratchetForward(base, 2));
  assert.deepEqual(await late.open(msg, 'h_ada'), { level: 1, speaking: true });
});
