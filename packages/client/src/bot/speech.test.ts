// BotSpeech, the real-time loop of a speaking bot (real Opus encoder, real timers): frames are
// encoded and sent in order at 50 per second, never faster; nothing is taken from the source or
// sent while the bot is off stage; a failing source ends the speech with a typed error, a failing
// send is logged and the speech goes on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BotError } from './errors.ts';
import { OpusFrameEncoder } from './opus.ts';
import { FRAME_SAMPLES, type PcmSource, sineTone } from './pcm.ts';
import { BotSpeech } from './speech.ts';

test('a 200 ms tone goes out as 10 Opus frames, in order, in real time', async () => {
  const sent: Uint8Array[] = [];
  const seen: Uint8Array[] = [];
  const t0 = performance.now();
  const speech = new BotSpeech({
    source: sineTone(440, { seconds: 0.2 }),
    encoder: await OpusFrameEncoder.create(),
    active: () => true,
    // sends take a while and overlap the next frame: order must hold anyway
    send: async (opus) => {
      await new Promise((r) => setTimeout(r, opus.length % 7));
      sent.push(opus);
    },
    onFrame: (opus) => seen.push(opus),
  });
  const result = await speech.finished;
  const ms = performance.now() - t0;
  assert.deepEqual(result, { reason: 'ended' });
  assert.equal(sent.length, 10);
  assert.deepEqual(sent, seen, 'sent in the order encoded');
  assert.ok(ms >= 170, `real time: 10 frames took ${ms.toFixed(0)} ms`);
  assert.equal(speech.stats.frames, 10);
  assert.equal(speech.speaking, false);
});

test('off stage nothing is taken from the source or sent; on stage it flows', async () => {
  let onStage = false;
  let pulled = 0;
  const tone = sineTone(440);
  const source: PcmSource = {
    next: () => {
      pulled++;
      return tone.next();
    },
  };
  const sent: Uint8Array[] = [];
  const speech = new BotSpeech({
    source,
    encoder: await OpusFrameEncoder.create(),
    active: () => onStage,
    send: async (opus) => {
      sent.push(opus);
    },
  });
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(pulled, 0);
  assert.equal(sent.length, 0);
  assert.ok(speech.stats.idle >= 5, `idle slots: ${speech.stats.idle}`);
  onStage = true;
  await new Promise((r) => setTimeout(r, 150));
  onStage = false;
  const n = sent.length;
  assert.ok(n >= 4, `frames on stage: ${n}`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(sent.length, n, 'nothing after leaving the stage');
  speech.stop();
  assert.deepEqual(await speech.finished, { reason: 'stopped' });
});

test('a failing source ends the speech with a typed error; a failing send does not', async () => {
  let frames = 0;
  const logs: string[] = [];
  const speech = new BotSpeech({
    source: {
      next: () => {
        if (++frames > 4) throw new Error('microphone unplugged');
        return new Int16Array(FRAME_SAMPLES);
      },
    },
    encoder: await OpusFrameEncoder.create(),
    active: () => true,
    send: async () => {
      throw new Error('transport gone');
    },
    log: (m) => logs.push(m),
  });
  const result = await speech.finished;
  assert.equal(result.reason, 'error');
  assert.ok(result.error instanceof BotError);
  assert.equal(result.error.code, 'source');
  assert.equal(speech.stats.frames, 4, 'sends failed, the speech went on until the source failed');
  assert.equal(logs.filter((l) => l.includes('transport gone')).length, 4);
});
