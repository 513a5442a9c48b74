/**
 * The local microphone's level, for speaking indicators in hardened rooms (where the media node
 * sees no audio level). `SpeakingDetector` is the pure part (tested in Node); `MicLevelMeter`
 * reads the RMS of the microphone track through a WebAudio AnalyserNode.
 */

/** At or above this RMS level (dBFS) the microphone counts as speaking. */
export const SPEAKING_DBFS = -45;
/** Below this the level reads 0 (the range -60 … 0 dBFS maps to 0 … 1). */
const FLOOR_DBFS = -60;
/** Speaking stays on this long after the level drops (the gaps between words). */
const HANGOVER_MS = 250;
const BLOCK_SAMPLES = 2048;
const WINDOW_SAMPLES = 8 * BLOCK_SAMPLES;

export class SpeakingDetector {
  #lastLoudAt = Number.NEGATIVE_INFINITY;

  /** One reading (RMS in dBFS, -Infinity for digital silence) → the level to send and whether we speak. */
  feed(dbfs: number, now: number, muted = false): { level: number; speaking: boolean } {
    if (muted || !Number.isFinite(dbfs)) return { level: 0, speaking: muted ? false : this.#hangover(now) };
    if (dbfs >= SPEAKING_DBFS) this.#lastLoudAt = Math.max(this.#lastLoudAt, now);
    const level = Math.min(1, Math.max(0, (dbfs - FLOOR_DBFS) / -FLOOR_DBFS));
    return { level, speaking: this.#hangover(now) };
  }

  /**
   * A window of consecutive block readings, oldest first, the last one ending at `now` (what
   * `MicLevelMeter.readWindow` gives). Each block is timed, so the end of a sound is known to
   * within a block wherever the caller's tick falls — one snapshot per tick would lock onto the rhythm of
   * the speech and could bridge every pause. The level is the loudest block's.
   */
  feedWindow(
    blocks: readonly number[],
    blockMs: number,
    now: number,
    muted = false,
    /** When the window's audio ended (default `now`): earlier when the audio clock has stalled. */
    endAt = now,
  ): { level: number; speaking: boolean } {
    let level = 0;
    blocks.forEach((dbfs, i) => {
      // timed at its start: a sound in it may have ended anywhere inside, so the hangover never
      // runs long by up to a block
      level = Math.max(level, this.feed(dbfs, endAt - (blocks.length - i) * blockMs, muted).level);
    });
    return { level, speaking: !muted && this.#hangover(now) };
  }

  #hangover(now: number): boolean {
    return now - this.#lastLoudAt <= HANGOVER_MS;
  }
}

/** RMS of samples in dBFS (-Infinity for silence). */
export function rmsDbfs(samples: Float32Array): number {
  let sum = 0;
  for (const s of samples) sum += s * s;
  return samples.length ? 10 * Math.log10(sum / samples.length) : Number.NEGATIVE_INFINITY;
}

/** Browser only: reads the level of a microphone track (a clone, so muting the original is seen as silence). */
export class MicLevelMeter {
  readonly #ctx: AudioContext;
  readonly #source: MediaStreamAudioSourceNode;
  readonly #analyser: AnalyserNode;
  readonly #buf: Float32Array<ArrayBuffer>;
  readonly track: MediaStreamTrack;
  #lastAudioTime = -1;
  #freshAt = 0;

  constructor(track: MediaStreamTrack) {
    this.track = track;
    this.#ctx = new AudioContext();
    this.#source = this.#ctx.createMediaStreamSource(new MediaStream([track]));
    this.#analyser = this.#ctx.createAnalyser();
    this.#analyser.fftSize = WINDOW_SAMPLES; // ~341 ms at 48 kHz: more than a tick apart
    this.#buf = new Float32Array(this.#analyser.fftSize);
    this.#source.connect(this.#analyser);
    void this.#ctx.resume().catch(() => undefined);
  }

  /**
   * The RMS (dBFS) of each ~43 ms block of the last ~341 ms, oldest first, the block length, and
   * when that audio ended (`endAt`, on the caller's clock). An analyser whose audio clock has not
   * moved since the last read (a starved or suspended audio thread) hands back the same samples:
   * their end is then when the clock last moved, so a stale burst cannot keep someone "speaking".
   */
  readWindow(now = Date.now()): { blocks: number[]; blockMs: number; endAt: number } {
    this.#analyser.getFloatTimeDomainData(this.#buf);
    const blocks: number[] = [];
    for (let at = 0; at < this.#buf.length; at += BLOCK_SAMPLES) {
      blocks.push(rmsDbfs(this.#buf.subarray(at, at + BLOCK_SAMPLES)));
    }
    const audioTime = this.#ctx.currentTime;
    if (audioTime !== this.#lastAudioTime) {
      this.#lastAudioTime = audioTime;
      this.#freshAt = now;
    }
    return { blocks, blockMs: (BLOCK_SAMPLES / this.#ctx.sampleRate) * 1000, endAt: this.#freshAt };
  }

  close(): void {
    this.#source.disconnect();
    void this.#ctx.close().catch(() => undefined);
  }
}
