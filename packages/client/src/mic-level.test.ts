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

test('SpeakingDetector.feedWindow: half-second bursts show as bursts at any tick phase', () => {
  const blockMs = (2048 / 48000) * 1000;
  /** dBFS of the block ending at `t` for 0.5 s bursts of a -20 dBFS tone every second. */
  const block = (t: number): number => {
    let on = 0;
    for (let s = t - blockMs; s < t; s += 1) if (((s % 1000) + 1000) % 1000 < 500) on++;
    return on === 0 ? Number.NEGATIVE_INFINITY : -20 + 10 * Math.log10(on / blockMs);
  };
  for (let phase = 0; phase < 250; phase += 3) {
    const single = new SpeakingDetector();
    const windowed = new SpeakingDetector();
    const seen: boolean[] = [];
    const seenSingle: boolean[] = [];
    for (let t = 1000 + phase; t < 11_000; t += 250) {
      const blocks = Array.from({ length: 8 }, (_, i) => block(t - (7 - i) * blockMs));
      seen.push(windowed.feedWindow(blocks, blockMs, t).speaking);
      seenSingle.push(single.feed(block(t), t).speaking);
    }
    const share = seen.filter(Boolean).length / seen.length;
    const onsets = seen.filter((s, i) => s && !seen[i - 1]).length;
    assert.ok(
      share >= 0.45 && share <= 0.8,
      `phase ${phase}: speaking in ${Math.round(share * 100)} % of ticks`,
    );
    assert.ok(onsets >= 9, `phase ${phase}: ${onsets} onsets in 10 s`);
    if (phase === 12) {
      // the old single snapshot per tick, locked to the rhythm: every pause bridged
      assert.equal(seenSingle.filter(Boolean).length, seenSingle.length, 'control: one snapshot per tick');
    }
  }
});

test('SpeakingDetector.feedWindow: a window from a stalled audio clock stops counting as speech', () => {
  const blockMs = (2048 / 48000) * 1000;
  const loud = Array.from({ length: 8 }, () => -20);
  const fresh = new SpeakingDetector();
  const stale = new SpeakingDetector();
  const seenFresh: boolean[] = [];
  const seenStale: boolean[] = [];
  // the analyser hands back the same loud samples every tick for 3 s: with the audio clock stuck
  // at t = 1000, their end stays at 1000
  for (let t = 1000; t <= 4000; t += 250) {
    seenFresh.push(fresh.feedWindow(loud, blockMs, t).speaking);
    seenStale.push(stale.feedWindow(loud, blockMs, t, false, 1000).speaking);
  }
  assert.ok(seenFresh.every(Boolean), 'control: taken as fresh, the stale burst is speech forever');
  assert.equal(seenStale[0], true, 'speaking while the audio is fresh');
  // from the next tick on, the burst's last block (timed at its start) is more than the 250 ms
  // hangover in the past
  assert.ok(
    seenStale.slice(1).every((s) => !s),
    `then not: ${seenStale.map(Number).join('')}`,
  );
});
