import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { generateDeviceIdentity } from '../identity/device.ts';
import { MemoryKeyDirectory } from '../identity/tofu.ts';
import { createStageKeyPackage, StageMember } from '../mls/stage.ts';
import { SFrameContext } from '../sframe/context.ts';
import {
  decodeSpeakerSignature,
  encodeSpeakerSignature,
  SpeakerSigner,
  SpeakerVerifier,
} from './speaker-sig.ts';

const ROOM = new TextEncoder().encode('room-1');

/** Moderator + one speaker on stage; a listener who got the base key (as listeners do). */
async function setup() {
  const dir = new MemoryKeyDirectory();
  const [modKeys, spkKeys, listenerKeys] = await Promise.all([
    generateDeviceIdentity('mod', 'd1'),
    generateDeviceIdentity('spk', 'd1'),
    generateDeviceIdentity('listener', 'd1'),
  ]);
  for (const k of [modKeys, spkKeys, listenerKeys]) dir.publish(k.identity);
  // MLS leaf keys are ephemeral; the roster maps each leaf to its *device* key, which signs
  const mod = await StageMember.create({ keys: modKeys, directory: dir, room: 'room-1' }, ROOM);
  const kp = await createStageKeyPackage(spkKeys, 'room-1');
  const out = await mod.add([kp.message]);
  const spk = await StageMember.join({ keys: spkKeys, directory: dir, room: 'room-1' }, out.welcome!, kp);
  const spkCtx = new SFrameContext();
  const modCtx = new SFrameContext();
  const kid = await spk.installSFrameKeys(spkCtx);
  await mod.installSFrameKeys(modCtx);
  // the listener holds the speaker's frame key (wrapped to it over HPKE in the real system)
  const listenerCtx = new SFrameContext();
  await listenerCtx.addEncryptionKey(kid, await spk.sframeBaseKey());
  const verifier = new SpeakerVerifier({ roster: mod.speakerRoster(), context: ROOM });
  return { mod, spk, spkKeys, listenerKeys, spkCtx, modCtx, listenerCtx, kid, verifier };
}

function opus(i: number): Uint8Array {
  return Uint8Array.from({ length: 60 + (i % 40) }, (_, j) => (i * 7 + j) & 0xff);
}

describe('speaker signatures', () => {
  test('signed frames verify; message format is small and round-trips', async () => {
    const { spkKeys, spkCtx, modCtx, kid, verifier } = await setup();
    const signer = new SpeakerSigner(spkKeys.signingKey, { context: ROOM });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 50; i++) {
      const f = await spkCtx.encrypt(kid, opus(i));
      frames.push(f);
      assert.deepEqual(await signer.addFrame(f), []);
    }
    const [msg, ...rest] = await signer.flush();
    assert.equal(rest.length, 0);
    assert.equal(msg!.length, 18 + 50 * 8 + 64); // 482 bytes per second of 20 ms frames
    const parsed = decodeSpeakerSignature(msg!);
    assert.ok(parsed !== undefined);
    assert.deepEqual(encodeSpeakerSignature(parsed), msg);
    assert.equal(parsed.kid, kid);
    assert.equal(parsed.firstCtr, 0n);
    // frames 0..49 received (frame 17 lost): verify after decrypting
    for (const [i, f] of frames.entries()) {
      if (i === 17) continue;
      await modCtx.decrypt(f);
      await verifier.addFrame(f);
      assert.equal(await verifier.verdictForFrame(f), 'unverified'); // not signed yet
    }
    const check = await verifier.addSignature(msg!);
    assert.equal(check.status, 'valid');
    for (const [i, f] of frames.entries()) {
      assert.equal(await verifier.verdictForFrame(f), i === 17 ? 'unverified' : 'verified', `frame ${i}`);
    }
  });

  test('a listener with the frame key forges frames: forged or unverified, never verified', async () => {
    const { spkKeys, listenerKeys, spkCtx, listenerCtx, modCtx, kid, verifier } = await setup();
    // 1. the listener injects its own frames under the speaker's KID and signs them itself
    const fakeSigner = new SpeakerSigner(listenerKeys.signingKey, { context: ROOM });
    const fakes: Uint8Array[] = [];
    for (let i = 0; i < 5; i++) {
      const f = await listenerCtx.encrypt(kid, Uint8Array.of(0xde, 0xad, i));
      await modCtx.decrypt(f); // AEAD alone accepts it: the listener has the key
      await verifier.addFrame(f);
      await fakeSigner.addFrame(f);
      fakes.push(f);
    }
    const [fakeSig] = await fakeSigner.flush();
    assert.equal((await verifier.addSignature(fakeSig!)).status, 'bad_signature');
    for (const f of fakes) assert.equal(await verifier.verdictForFrame(f), 'forged');

    // 2. the real speaker's signature for the same counters then says which frames are real:
    //    the listener's frames (received first, so the speaker's were dropped as replays) are forged
    const signer = new SpeakerSigner(spkKeys.signingKey, { context: ROOM });
    for (let i = 0; i < 5; i++) await signer.addFrame(await spkCtx.encrypt(kid, opus(i)));
    const [realSig] = await signer.flush();
    assert.equal((await verifier.addSignature(realSig!)).status, 'valid');
    for (const f of fakes) assert.equal(await verifier.verdictForFrame(f), 'forged');

    // 3. frames under a KID whose leaf is not on stage: nobody can vouch → unverified
    const offStage = kid + 7n; // leaf 8 (no member)
    const ctx = new SFrameContext();
    const rx = new SFrameContext();
    const base = Uint8Array.from({ length: 16 }, (_, i) => i);
    await ctx.addEncryptionKey(offStage, base);
    await rx.addDecryptionKey(offStage, base);
    const ghostSigner = new SpeakerSigner(listenerKeys.signingKey, { context: ROOM });
    const ghost = await ctx.encrypt(offStage, Uint8Array.of(1));
    await verifier.addFrame(ghost);
    await ghostSigner.addFrame(ghost);
    const [ghostSig] = await ghostSigner.flush();
    assert.equal((await verifier.addSignature(ghostSig!)).status, 'unknown_sender');
    assert.equal(await verifier.verdictForFrame(ghost), 'unverified');
  });

  test('a tampered signature message marks the frames forged', async () => {
    const { spkKeys, spkCtx, kid, verifier } = await setup();
    const signer = new SpeakerSigner(spkKeys.signingKey, { context: ROOM });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) {
      const f = await spkCtx.encrypt(kid, opus(i));
      frames.push(f);
      await verifier.addFrame(f);
      await signer.addFrame(f);
    }
    const [msg] = await signer.flush();
    for (const flip of [msg!.length - 1, 18 + 3, 9 + 7]) {
      const bad = Uint8Array.from(msg!);
      bad[flip]! ^= 0x01;
      const r = await verifier.addSignature(bad);
      assert.equal(r.status, 'bad_signature', `flip at ${flip}`);
    }
    for (const f of frames) assert.equal(await verifier.verdictForFrame(f), 'forged');
    // wrong room context also fails
    const otherRoom = new SpeakerVerifier({ roster: () => spkKeys.identity.signingPublicKey });
    assert.equal((await otherRoom.addSignature(msg!)).status, 'bad_signature');
    // the genuine message still verifies them (a bad claim cannot override a good signature)
    assert.equal((await verifier.addSignature(msg!)).status, 'valid');
    for (const f of frames) assert.equal(await verifier.verdictForFrame(f), 'verified');
    const again = Uint8Array.from(msg!);
    again[again.length - 2]! ^= 0x80;
    await verifier.addSignature(again);
    for (const f of frames) assert.equal(await verifier.verdictForFrame(f), 'verified');
    assert.equal(decodeSpeakerSignature(msg!.subarray(0, msg!.length - 1)), undefined);
    assert.equal((await verifier.addSignature(Uint8Array.of(2, 0, 0))).status, 'malformed');
  });

  test('batches close at maxFrames, on a KID change and on a counter gap; due() after the interval', async () => {
    const { spkKeys } = await setup();
    let now = 0;
    const signer = new SpeakerSigner(spkKeys.signingKey, { maxFrames: 3, now: () => now });
    const a = new SFrameContext();
    await a.addEncryptionKey(1n, new Uint8Array(16));
    await a.addEncryptionKey(2n, new Uint8Array(16));
    const out: Uint8Array[] = [];
    out.push(...(await signer.addFrame(await a.encrypt(1n, Uint8Array.of(1)))));
    assert.equal(signer.due(999), false);
    now = 1000;
    assert.equal(signer.due(), true);
    out.push(...(await signer.addFrame(await a.encrypt(1n, Uint8Array.of(1)))));
    out.push(...(await signer.addFrame(await a.encrypt(1n, Uint8Array.of(1))))); // 3 → closes
    assert.equal(out.length, 1);
    await a.encrypt(1n, Uint8Array.of(1)); // ctr 3 never recorded: gap
    out.push(...(await signer.addFrame(await a.encrypt(1n, Uint8Array.of(1))))); // ctr 4
    out.push(...(await signer.addFrame(await a.encrypt(2n, Uint8Array.of(1))))); // KID change closes ctr 4
    out.push(...(await signer.flush()));
    const parsed = out.map((m) => decodeSpeakerSignature(m)!);
    assert.deepEqual(
      parsed.map((p) => [p.kid, p.firstCtr, p.digests.length]),
      [
        [1n, 0n, 3],
        [1n, 4n, 1],
        [2n, 0n, 1],
      ],
    );
  });
});
