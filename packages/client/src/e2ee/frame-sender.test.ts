// SignedFrameSender (the send path the browser worker and bots share): frames go out SFrame-
// encrypted whole (no byte of the Opus frame in clear, not even the TOC), one signature message
// per second covers them, and a receiver's SpeakerGate verifies every frame from it; without a
// send key nothing is sent or signed; without a signer the same frames decrypt but are muted.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeHeader, decodeKid } from '@sotto/e2ee';
import { FrameCrypto } from './frame-crypto.ts';
import { SignedFrameSender } from './frame-sender.ts';
import { SpeakerGate } from './speaker-gate.ts';
import { signingKeyPair } from './test-keys.ts';

const context = new TextEncoder().encode('sotto room r1');
const GEN = 42;
const LEAF = 3;

function opusLike(i: number): Uint8Array {
  // a CELT TOC byte and a recognisable body
  return Uint8Array.from({ length: 80 }, (_, j) => (j === 0 ? 0xf8 : (i * 7 + j) & 0xff));
}

async function keyedPair() {
  const base = crypto.getRandomValues(new Uint8Array(16));
  const tx = new FrameCrypto();
  tx.setBaseKey(GEN, 0, base);
  await tx.setSendKey({ generation: GEN, step: 0, leaf: LEAF });
  const rx = new FrameCrypto();
  rx.setBaseKey(GEN, 0, base);
  return { tx, rx };
}

test('frames are encrypted whole and signed once a second; the receiver verifies every one', async () => {
  let now = 0;
  const speaker = await signingKeyPair();
  const { tx, rx } = await keyedPair();
  const sigs: Uint8Array[] = [];
  const sender = new SignedFrameSender(tx, { onSignatures: (m) => sigs.push(...m) });
  sender.setSigner(speaker.priv, { context, now: () => now });
  const gate = new SpeakerGate({ context, graceMs: 2000, now: () => now });
  gate.setRoster(GEN, [[LEAF, speaker.pub]]);

  let played = 0;
  const sent: Uint8Array[] = [];
  for (let i = 0; i < 150; i++, now += 20) {
    const plain = opusLike(i);
    const out = await sender.encrypt(plain);
    assert.ok(out, 'sent');
    sent.push(out);
    const { kid } = decodeHeader(out);
    assert.deepEqual(decodeKid(kid), { generation: GEN, stepLow: 0, leaf: LEAF });
    for (let j = 0; j + 8 <= plain.length; j++)
      assert.ok(
        !Buffer.from(out).includes(Buffer.from(plain.subarray(j, j + 8))),
        'no 8 bytes of the frame in clear',
      );
    sender.tick();
    await new Promise((r) => setImmediate(r)); // the signature is made asynchronously
    for (const m of sigs.splice(0)) await gate.addSignature(m);
    const opened = await rx.decrypt(out);
    assert.deepEqual(opened, plain);
    if (await gate.admit(out)) played++;
  }
  await sender.flush();
  for (const m of sigs.splice(0)) await gate.addSignature(m);
  assert.equal(played, 150, 'every frame played');
  assert.equal(sender.signatures, 3, 'one signature per second (the last one flushed)');
  assert.ok(gate.stats.verified >= 149, `verified ${JSON.stringify(gate.stats)}`);
  assert.equal(gate.stats.muted, 0);
  assert.equal(tx.stats.encrypted, 150);
});

test('without a send key nothing is sent or signed', async () => {
  const speaker = await signingKeyPair();
  const tx = new FrameCrypto();
  const sigs: Uint8Array[] = [];
  const sender = new SignedFrameSender(tx, { onSignatures: (m) => sigs.push(...m) });
  sender.setSigner(speaker.priv, { context });
  for (let i = 0; i < 10; i++) assert.equal(await sender.encrypt(opusLike(i)), null);
  await sender.flush();
  assert.equal(sigs.length, 0);
  assert.equal(tx.stats.unsent, 10);
});

test('negative control: the same frames without signatures decrypt, and are muted after the grace', async () => {
  let now = 0;
  const speaker = await signingKeyPair();
  const { tx, rx } = await keyedPair();
  const sender = new SignedFrameSender(tx, { onSignatures: () => assert.fail('no signer, no signature') });
  const gate = new SpeakerGate({ context, graceMs: 2000, now: () => now });
  gate.setRoster(GEN, [[LEAF, speaker.pub]]);
  let played = 0;
  let playedLate = 0;
  for (let i = 0; i < 150; i++, now += 20) {
    const out = await sender.encrypt(opusLike(i));
    assert.ok(out && (await rx.decrypt(out)), 'decrypts');
    const ok = await gate.admit(out);
    if (ok) played++;
    if (ok && now >= 2100) playedLate++;
  }
  assert.ok(played > 0 && played <= 105, `played within the grace only: ${played}`);
  assert.equal(playedLate, 0, 'nothing after the grace');
  assert.ok(gate.stats.muted >= 45);
});
