/**
 * Audio a bot can speak, as 20 ms frames of mono 16-bit PCM at 48 kHz (what one Opus frame on a
 * Sotto audio track holds), and the clock that paces them. Pure logic: no encoder, no I/O.
 */
import { BotError } from './errors.ts';

export const SAMPLE_RATE = 48_000;
export const FRAME_MS = 20;
/** Samples in one 20 ms mono frame at 48 kHz. */
export const FRAME_SAMPLES = (SAMPLE_RATE * FRAME_MS) / 1000;

/** 20 ms frames of mono PCM (FRAME_SAMPLES samples each), pulled one at a time. */
export interface PcmSource {
  /** The next frame, or null when the source has ended. */
  next(): Int16Array | null;
}

export interface ToneOptions {
  /** Peak amplitude as a fraction of full scale (default 0.3, about -10 dBFS). */
  amplitude?: number;
  /** Length in seconds (default: endless). */
  seconds?: number;
}

/** A sine tone, phase-continuous across frames. */
export function sineTone(hz: number, options: ToneOptions = {}): PcmSource {
  const amplitude = options.amplitude ?? 0.3;
  if (!(hz > 0 && hz < SAMPLE_RATE / 2)) throw new BotError('bad_pcm', `tone frequency ${hz} Hz`);
  if (!(amplitude >= 0 && amplitude <= 1)) throw new BotError('bad_pcm', `tone amplitude ${amplitude}`);
  const total = options.seconds === undefined ? Number.POSITIVE_INFINITY : options.seconds * SAMPLE_RATE;
  const peak = amplitude * 32767;
  const step = (2 * Math.PI * hz) / SAMPLE_RATE;
  let n = 0;
  return {
    next() {
      if (n >= total) return null;
      const frame = new Int16Array(FRAME_SAMPLES);
      for (let i = 0; i < FRAME_SAMPLES && n < total; i++, n++)
        frame[i] = Math.round(peak * Math.sin(step * n));
      return frame;
    },
  };
}

/**
 * PCM the caller supplies (mono, 48 kHz, any length), cut into frames; the last frame is padded
 * with silence. `loop` starts over at the end instead of ending.
 */
export function pcmClip(samples: Int16Array, options: { loop?: boolean } = {}): PcmSource {
  if (samples.length === 0) throw new BotError('bad_pcm', 'empty PCM clip');
  let at = 0;
  return {
    next() {
      if (at >= samples.length) {
        if (!options.loop) return null;
        at = 0;
      }
      const frame = new Int16Array(FRAME_SAMPLES);
      const part = samples.subarray(at, at + FRAME_SAMPLES);
      frame.set(part);
      at += FRAME_SAMPLES;
      return frame;
    },
  };
}

/**
 * Real-time pacing: which frames are due at `now`. Frames fall due every FRAME_MS from the first
 * call; after a stall (a busy event loop) at most `maxBurst` late frames go out at once and the
 * rest are skipped, so the receiver's jitter buffer gets a short burst, not seconds of backlog.
 */
export class FramePacer {
  readonly #frameMs: number;
  readonly #maxBurst: number;
  #next: number | null = null;
  /** Frames skipped after stalls. */
  skipped = 0;

  constructor(options: { frameMs?: number; maxBurst?: number } = {}) {
    this.#frameMs = options.frameMs ?? FRAME_MS;
    this.#maxBurst = options.maxBurst ?? 3;
  }

  /** How many frames to produce now. */
  due(now: number): number {
    if (this.#next === null) this.#next = now;
    let n = 0;
    while (now >= this.#next && n < this.#maxBurst) {
      n++;
      this.#next += this.#frameMs;
    }
    if (now >= this.#next) {
      const late = Math.floor((now - this.#next) / this.#frameMs) + 1;
      this.skipped += late;
      this.#next += late * this.#frameMs;
    }
    return n;
  }

  /** When the next frame falls due (the time of the first call before it). */
  nextAt(now: number): number {
    return this.#next ?? now;
  }
}
