// SpeakerGate: signed frames from a roster member play; frames a key holder forged under a
// speaker's KID (AEAD-valid, never signed) are muted once the grace is over, even while the real
// speaker keeps signing its own frames; frames under a KID whose leaf is not on stage are muted
// at once; a signature with another member's key does not vouch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeKid, SFrameContext, SpeakerSigner } from '@sotto/e2ee';
import { SpeakerGate } from './speaker-gate.ts';
import { signingKeyPair } from './test-keys.ts';

const context = new TextEncoder().encode('room1');
test('signed speaker plays; forgeries under its KID and unknown leaves are muted', async () => {
  let now = 0;
  const gate = new SpeakerGate({ context, graceMs: 2000, now: () => now });
  const ada = await signingKeyPair();
  const eve = await signingKeyPair();
  const gen = 7;
  gate.setRoster(gen, [[0, ada.pub]]);
  const kid = encodeKid({ generation: gen, step: 0, leaf: 0 });
  const base = crypto.getRandomValues(new Uint8Array(16));
  const speaker = new SFrameContext();
  await speaker.addEncryptionKey(kid, base);
  const signer = new SpeakerSigner(ada.priv, { context, now: () => now });
  // the forger has the same key (a listener): its own context, counters far ahead
  const forger = new SFrameContext();
  await forger.addEncryptionKey(kid, base);
  for (let i = 0; i < 5000; i++) await forger.encrypt(kid, Uint8Array.of(1));

  let played = 0;
  // 3 s of genuine, signed audio (20 ms frames, signatures every second)
  for (let i = 0; i < 150; i++, now += 20) {
    const f = await speaker.encrypt(kid, Uint8Array.of(i & 0xff, 2, 3));
    for (const m of await signer.addFrame(f)) await gate.addSignature(m);
    if (signer.due()) for (const m of await signer.flush()) await gate.addSignature(m);
    if (await gate.admit(f)) played++;
  }
  assert.equal(played, 150, 'genuine signed frames all play');
  assert.equal(gate.stats.muted, 0);

  // forged frames replace the speaker's on the wire; the speaker keeps signing what it sent
  let forgedPlayed = 0;
  let lastPlayedAt = 0;
  for (let i = 0; i < 250; i++, now += 20) {
    const real = await speaker.encrypt(kid, Uint8Array.of(9));
    for (const m of await signer.addFrame(real)) await gate.addSignature(m);
    if (signer.due()) for (const m of await signer.flush()) await gate.addSignature(m);
    const fake = await forger.encrypt(kid, Uint8Array.of(6, 6, 6));
    if (await gate.admit(fake)) {
      forgedPlayed++;
      lastPlayedAt = now;
    }
  }
  assert.ok(forgedPlayed <= 110, `forged audio played ${forgedPlayed} frames (≤ grace + 1 s)`);
  assert.ok(lastPlayedAt < 3000 + 2500, 'and then stayed muted');
  assert.ok(gate.stats.muted > 130);

  // a KID whose leaf is not on stage: muted at once
  const stranger = encodeKid({ generation: gen, step: 0, leaf: 5 });
  const sc = new SFrameContext();
  await sc.addEncryptionKey(stranger, base);
  assert.equal(await gate.admit(await sc.encrypt(stranger, Uint8Array.of(1))), false);

  // a new speaker signing with someone else's key: its frames are never verified
  const gate2 = new SpeakerGate({ context, graceMs: 2000, now: () => now });
  gate2.setRoster(gen, [[0, ada.pub]]);
  const eveSigner = new SpeakerSigner(eve.priv, { context, now: () => now });
  const c2 = new SFrameContext();
  await c2.addEncryptionKey(kid, base);
  let evePlayed = 0;
  for (let i = 0; i < 200; i++, now += 20) {
    const f = await c2.encrypt(kid, Uint8Array.of(4));
    for (const m of await eveSigner.addFrame(f)) await gate2.addSignature(m);
    if (eveSigner.due()) for (const m of await eveSigner.flush()) await gate2.addSignature(m);
    if (await gate2.admit(f)) evePlayed++;
  }
  assert.ok(evePlayed <= 110, `bad-signature audio played ${evePlayed} frames`);
  assert.ok(gate2.stats.badSignatures > 0);
});
