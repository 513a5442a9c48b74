/**
 * PCM → Opus for bots: libopus compiled to WebAssembly (`opusscript`, loaded on first use so a
 * listening bot never loads it, and never part of the browser bundle: only `@sotto/client/bot`
 * imports this file). One encoder per speaking bot, mono 48 kHz, one 20 ms frame per call.
 *
 * Node 20 note: V8 compiles the 318 KB module again in the background once it is hot, and the
 * process does not exit before that compilation ends (about a second here; much longer on a
 * saturated machine). A bot that has spoken may therefore take a moment to exit.
 */
import type OpusScript from 'opusscript';
import { BotError } from './errors.ts';
import { FRAME_SAMPLES, SAMPLE_RATE } from './pcm.ts';

/** libopus encoder CTL requests (opus_defines.h). */
const OPUS_SET_BITRATE = 4002;
const OPUS_SET_VBR = 4006;
const OPUS_SET_COMPLEXITY = 4010;
const OPUS_SET_DTX = 4016;
/** OPUS_APPLICATION_VOIP / OPUS_APPLICATION_AUDIO. */
const APPLICATION = { voip: 2048, audio: 2049 } as const;

export interface OpusEncoderOptions {
  /** Target bitrate in bit/s (default 32,000, as browsers send speech). */
  bitrate?: number;
  /**
   * Constant bitrate (and no DTX): every frame the same size, so sizes reveal nothing about what
   * is said — what hardened rooms ask for. Default false (VBR).
   */
  cbr?: boolean;
  /** 0–10 (default 5: cheap enough for many bots on two cores). */
  complexity?: number;
  /** libopus application: `audio` (default; tones and music) or `voip` (speech). */
  application?: keyof typeof APPLICATION;
}

export class OpusFrameEncoder {
  readonly #enc: OpusScript;
  #closed = false;
  /** Frames encoded. */
  frames = 0;

  private constructor(enc: OpusScript) {
    this.#enc = enc;
  }

  static async create(options: OpusEncoderOptions = {}): Promise<OpusFrameEncoder> {
    let Ctor: typeof OpusScript;
    try {
      Ctor = (await import('opusscript')).default;
    } catch (err) {
      throw new BotError('opus', 'the Opus encoder (opusscript) could not be loaded', { cause: err });
    }
    const enc = new Ctor(SAMPLE_RATE, 1, APPLICATION[options.application ?? 'audio']);
    const out = new OpusFrameEncoder(enc);
    try {
      const bitrate = options.bitrate ?? 32_000;
      if (!Number.isInteger(bitrate) || bitrate < 6000 || bitrate > 510_000)
        throw new BotError('opus', `bitrate ${bitrate} is not 6000–510000`);
      const complexity = options.complexity ?? 5;
      if (!Number.isInteger(complexity) || complexity < 0 || complexity > 10)
        throw new BotError('opus', `complexity ${complexity} is not 0–10`);
      enc.encoderCTL(OPUS_SET_BITRATE, bitrate);
      enc.encoderCTL(OPUS_SET_COMPLEXITY, complexity);
      enc.encoderCTL(OPUS_SET_VBR, options.cbr ? 0 : 1);
      enc.encoderCTL(OPUS_SET_DTX, 0);
    } catch (err) {
      out.close();
      throw err instanceof BotError ? err : new BotError('opus', 'encoder setting refused', { cause: err });
    }
    return out;
  }

  /** One 20 ms frame of mono 48 kHz PCM (FRAME_SAMPLES samples) → one Opus frame (a copy). */
  encode(pcm: Int16Array): Uint8Array {
    if (this.#closed) throw new BotError('opus', 'the encoder is closed');
    if (pcm.length !== FRAME_SAMPLES)
      throw new BotError('bad_pcm', `a frame is ${FRAME_SAMPLES} samples, not ${pcm.length}`);
    let out: Uint8Array;
    try {
      // opusscript takes the PCM as bytes (host order, as libopus reads opus_int16)
      out = this.#enc.encode(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength), FRAME_SAMPLES);
    } catch (err) {
      throw new BotError('opus', 'Opus encoding failed', { cause: err });
    }
    this.frames++;
    return Uint8Array.from(out);
  }

  /** Frees the encoder's WebAssembly memory. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#enc.delete();
  }
}
