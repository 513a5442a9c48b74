import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rmsDbfs, SPEAKING_DBFS, SpeakingDetector } from './mic-level.ts';

test('rmsDbfs: a full-scale sine is about -3 dBFS, silence is -Infinity', () => {
  const sine = Float32Array.from({ length: 4800 }, (_, i) => Math.sin((2 * Math.PI * 440 * i) / 48000));
  assert.ok(Math.abs(rmsDbfs(sine) + 3.01) < 0.05, String(rmsDbfs(sine)));
  assert.equal(rmsDbfs(new Float32Array(480)), Number.NEGATIVE_INFINITY);
  const quiet = sine.map((s) => s * 0.001); // -63 dBFS
  assert.ok(rmsDbfs(quiet) < SPEAKING_DBFS);
});

test('SpeakingDetector: speaking above the threshold, a short hangover, never while muted', () => {
  const d = new SpeakingDetector();
  assert.deepEqual(d.feed(Number.NEGATIVE_INFINITY, 0), { level: 0, speaking: false });
  const loud = d.feed(-20, 250);
  assert.equal(loud.speaking, true);
  assert.ok(Math.abs(loud.level - 40 / 60) < 1e-9);
  assert.equal(d.feed(-70, 450).speaking, true, 'a gap between words');
  assert.equal(d.feed(-70, 600).speaking, false, 'silence after the hangover');
  assert.equal(d.feed(-70, 600).level, 0);
  assert.equal(d.feed(-10, 1000, true).speaking, false, 'muted');
  assert.equal(d.feed(SPEAKING_DBFS, 1250).speaking, true, 'the threshold itself counts');
  assert.equal(d.feed(0, 1500).level, 1);
});
