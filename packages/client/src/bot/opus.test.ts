// The bot's Opus encoder (libopus in WebAssembly): a 440 Hz tone encoded frame by frame decodes
// (with libopus's own decoder) back to a 440 Hz tone at the right level; every frame is a 20 ms
// CELT frame (TOC byte, RFC 6716 §3.1); CBR makes every frame the same size where VBR does not;
// wrong frame sizes and bad settings are typed errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpusScript from 'opusscript';
import { BotError } from './errors.ts';
import { OpusFrameEncoder } from './opus.ts';
import { FRAME_SAMPLES, SAMPLE_RATE, sineTone } from './pcm.ts';

/** Amplitude of `hz` in `x` (Goertzel), as a fraction of full scale. */
function amplitudeAt(x: Int16Array, hz: number): number {
  const w = (2 * Math.PI * hz) / SAMPLE_RATE;
  const c = 2 * Math.cos(w);
  let s1 = 0;
  let s2 = 0;
  for (const v of x) {
    const s = v + c * s1 - s2;
    s2 = s1;
    s1 = s;
  }
  return (2 * Math.sqrt(s1 * s1 + s2 * s2 - c * s1 * s2)) / x.length / 32767;
}

async function encodeTone(hz: number, frames: number, cbr: boolean): Promise<Uint8Array[]> {
  const enc = await OpusFrameEncoder.create({ cbr });
  const tone = sineTone(hz, { amplitude: 0.3 });
  const out: Uint8Array[] = [];
  try {
    for (let i = 0; i < frames; i++) out.push(enc.encode(tone.next()!));
  } finally {
    enc.close();
  }
  return out;
}

test('a 440 Hz tone survives Opus: decoded, it is 440 Hz at about the level it was sent', async () => {
  const frames = await encodeTone(440, 100, false);
  assert.equal(frames.length, 100);
  // RFC 6716 TOC: config 31 = CELT fullband 20 ms; mono, one frame per packet (code 0)
  for (const f of frames) {
    assert.ok(f.length > 1);
    assert.equal(f[0]! >> 3, 31, `TOC config ${f[0]! >> 3}`);
    assert.equal(f[0]! & 0x07, 0, 'mono, one frame');
  }
  const dec = new OpusScript(SAMPLE_RATE, 1);
  const pcm = new Int16Array(FRAME_SAMPLES * 50);
  try {
    for (const [i, f] of frames.slice(50).entries()) {
      const d = dec.decode(Buffer.from(f));
      pcm.set(new Int16Array(d.buffer, d.byteOffset, d.length / 2), i * FRAME_SAMPLES);
    }
  } finally {
    dec.delete();
  }
  const at440 = amplitudeAt(pcm, 440);
  const at660 = amplitudeAt(pcm, 660);
  assert.ok(at440 > 0.2 && at440 < 0.4, `440 Hz at ${at440.toFixed(3)} of full scale (sent 0.3)`);
  assert.ok(at660 < at440 / 100, `no 660 Hz (${at660.toFixed(5)})`);
});

test('CBR (hardened rooms) makes every frame the same size; VBR does not', async () => {
  // speech-like: a tone that comes and goes
  const sizes = async (cbr: boolean) => {
    const enc = await OpusFrameEncoder.create({ cbr, bitrate: 24_000 });
    const tone = sineTone(300, { amplitude: 0.5 });
    const out = new Set<number>();
    try {
      for (let i = 0; i < 100; i++) {
        const f = tone.next()!;
        if (i % 20 < 10) f.fill(0);
        out.add(enc.encode(f).length);
      }
    } finally {
      enc.close();
    }
    return out;
  };
  const cbr = await sizes(true);
  const vbr = await sizes(false);
  assert.deepEqual([...cbr], [60], 'CBR 24 kbit/s: 60 bytes every 20 ms');
  assert.ok(vbr.size > 3, `VBR sizes vary: ${[...vbr].join(', ')}`);
});

test('wrong frame sizes, bad settings and a closed encoder are typed errors', async () => {
  const enc = await OpusFrameEncoder.create();
  assert.throws(
    () => enc.encode(new Int16Array(480)),
    (e: unknown) => e instanceof BotError && e.code === 'bad_pcm',
  );
  enc.close();
  assert.throws(
    () => enc.encode(new Int16Array(FRAME_SAMPLES)),
    (e: unknown) => e instanceof BotError && e.code === 'opus',
  );
  for (const o of [{ bitrate: 100 }, { complexity: 11 }])
    await assert.rejects(
      OpusFrameEncoder.create(o),
      (e: unknown) => e instanceof BotError && e.code === 'opus',
    );
});
