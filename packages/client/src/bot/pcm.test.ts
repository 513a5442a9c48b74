// PCM sources and the real-time pacer: 20 ms frames of 960 samples, a phase-continuous tone that
// ends on time, a caller's clip cut and padded (or looped), typed errors for bad settings, and a
// pacer that sends at most a short burst after a stall and skips the rest.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BotError } from './errors.ts';
import { FRAME_SAMPLES, FramePacer, pcmClip, SAMPLE_RATE, sineTone } from './pcm.ts';

test('a sine tone is phase-continuous across frames and ends after its length', () => {
  const tone = sineTone(440, { amplitude: 0.5, seconds: 0.05 });
  const frames: Int16Array[] = [];
  for (let f = tone.next(); f; f = tone.next()) frames.push(f);
  assert.equal(frames.length, 3, '50 ms = two full frames and a partial one');
  assert.ok(frames.every((f) => f.length === FRAME_SAMPLES));
  const all = frames.flatMap((f) => [...f]);
  // the same sine as one continuous signal, sample for sample (no restart at frame boundaries)
  for (const n of [0, 1, 959, 960, 961, 1919, 1920, 2399])
    assert.equal(
      all[n],
      Math.round(0.5 * 32767 * Math.sin((2 * Math.PI * 440 * n) / SAMPLE_RATE)),
      `sample ${n}`,
    );
  assert.ok(
    all.slice(2400).every((v) => v === 0),
    'the partial frame is padded with silence',
  );
  assert.ok(Math.max(...all) <= Math.round(0.5 * 32767) && Math.max(...all) > 16000);
});

test('bad tone settings and empty clips are typed errors', () => {
  for (const make of [
    () => sineTone(0),
    () => sineTone(30_000),
    () => sineTone(440, { amplitude: 1.5 }),
    () => pcmClip(new Int16Array(0)),
  ]) {
    assert.throws(make, (e: unknown) => e instanceof BotError && e.code === 'bad_pcm');
  }
});

test('a clip is cut into frames, the last one padded; looped, it starts over', () => {
  const samples = Int16Array.from({ length: 1000 }, (_, i) => i + 1);
  const once = pcmClip(samples);
  const a = once.next();
  const b = once.next();
  assert.ok(a && b);
  assert.equal(a[0], 1);
  assert.equal(a[959], 960);
  assert.equal(b[0], 961);
  assert.equal(b[39], 1000);
  assert.ok(b.subarray(40).every((v) => v === 0));
  assert.equal(once.next(), null);

  const loop = pcmClip(samples, { loop: true });
  loop.next();
  loop.next();
  assert.equal(loop.next()?.[0], 1, 'starts over');
});

test('the pacer releases one frame per 20 ms, a short burst after a stall, and skips the rest', () => {
  const p = new FramePacer({ frameMs: 20, maxBurst: 3 });
  assert.equal(p.due(1000), 1, 'the first frame at once');
  assert.equal(p.due(1010), 0);
  assert.equal(p.nextAt(1010), 1020);
  assert.equal(p.due(1020), 1);
  assert.equal(p.due(1045), 1, 'a late tick catches up on what is due');
  assert.equal(p.nextAt(1045), 1060);
  // a 500 ms stall: three frames go out at once, the other 22 slots are skipped
  assert.equal(p.due(1545), 3);
  assert.equal(p.skipped, 22);
  assert.equal(p.nextAt(1545), 1560, 'back on the 20 ms grid');
  assert.equal(p.due(1560), 1);
  assert.equal(p.due(1579), 0);
});
