import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FrameCrypto } from './frame-crypto.ts';

const key = (b: number) => new Uint8Array(16).fill(b);
const opus = (n: number) => Uint8Array.from({ length: 60 }, (_, i) => (i * 7 + n) & 0xff);

test('encrypts whole frames, decrypts them, drops failures; never sends in clear', async () => {
  const alice = new FrameCrypto();
  const bob = new FrameCrypto();
  assert.equal(await alice.encrypt(opus(1)), null, 'no key: dropped, not sent in clear');
  alice.setBaseKey(1, 0, key(1));
  await alice.setSendKey({ generation: 1, step: 0, leaf: 3 });
  const ct = await alice.encrypt(opus(1));
  assert.ok(ct);
  assert.notDeepEqual(ct.subarray(ct.length - 60), opus(1));
  // unknown generation: dropped and reported
  let missing = -1;
  bob.onMissingKey = (g) => {
    missing = g;
  };
  assert.equal(await bob.decrypt(ct), null);
  assert.equal(missing, 1);
  bob.setBaseKey(1, 0, key(1));
  assert.deepEqual(await bob.decrypt(ct), opus(1));
  assert.equal(await bob.decrypt(ct), null, 'replay dropped');
  const tampered = Uint8Array.from((await alice.encrypt(opus(2))) ?? []);
  tampered[tampered.length - 1] ^= 1;
  assert.equal(await bob.decrypt(tampered), null, 'forgery dropped');
  assert.equal(await bob.decrypt(new Uint8Array(0)), null, 'empty dropped');
  assert.equal(await bob.decrypt(opus(3)), null, 'plaintext (injected) dropped');
  // wrong key for the generation
  const eve = new FrameCrypto();
  eve.setBaseKey(1, 0, key(9));
  await eve.setSendKey({ generation: 1, step: 0, leaf: 4 });
  assert.equal(await bob.decrypt((await eve.encrypt(opus(4))) ?? new Uint8Array()), null);
  assert.ok((bob.stats.dropped.auth_failed ?? 0) >= 2);
});

test('ratchet: a receiver derives later steps; a newcomer given step n cannot read step n-1', async () => {
  const alice = new FrameCrypto();
  alice.setBaseKey(2, 0, key(2));
  await alice.setSendKey({ generation: 2, step: 0, leaf: 0 });
  const early = (await alice.encrypt(opus(5))) as Uint8Array;
  await alice.setSendKey({ generation: 2, step: 1, leaf: 0 });
  const later = (await alice.encrypt(opus(6))) as Uint8Array;
  const old = new FrameCrypto();
  old.setBaseKey(2, 0, key(2));
  assert.deepEqual(await old.decrypt(later), opus(6), 'members derive step 1 themselves');
  // the newcomer only gets step 1 (derived by the key holder)
  const { ratchetForward } = await import('@sotto/e2ee');
  const newcomer = new FrameCrypto();
  newcomer.setBaseKey(2, 1, await ratchetForward(key(2), 1));
  assert.deepEqual(await newcomer.decrypt(later), opus(6));
  assert.equal(await newcomer.decrypt(early), null, 'earlier audio stays sealed');
  // forgetting old generations
  old.setBaseKey(4, 0, key(4));
  assert.deepEqual(old.generations, [2, 4]);
  old.forgetBefore(3);
  assert.equal(old.hasGeneration(2), false);
  assert.deepEqual(old.generations, [4]);
  assert.equal(await old.decrypt((await alice.encrypt(opus(7))) as Uint8Array), null);
});

test('frames under made-up generations cause at most one key request a second', async () => {
  const rx = new FrameCrypto();
  const asked: number[] = [];
  rx.onMissingKey = (g) => asked.push(g);
  for (let g = 10; g < 60; g++) {
    const tx = new FrameCrypto();
    tx.setBaseKey(g, 0, key(g));
    await tx.setSendKey({ generation: g, step: 0, leaf: 1 });
    assert.equal(await rx.decrypt((await tx.encrypt(opus(g))) as Uint8Array), null);
  }
  assert.deepEqual(asked, [10], '50 unknown generations in a burst: one request');
  assert.equal(rx.stats.dropped.unknown_key, 50);
});
