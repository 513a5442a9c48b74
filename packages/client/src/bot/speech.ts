/**
 * A bot speaking in real time: every 20 ms (FramePacer) the next PCM frame is Opus-encoded and
 * handed to `send` (in E2eeBot: SFrame-encrypt, sign, RTP). While `active()` is false (the bot is
 * not on stage) nothing is taken from the source, encoded or sent. Sends run one at a time in
 * frame order; if they fall behind by more than `maxBacklog` frames (a starved event loop), new
 * frames are skipped rather than queued. Errors end the speech with a typed result — a speaking
 * bot never throws into the event loop.
 */
import { BotError } from './errors.ts';
import type { OpusFrameEncoder } from './opus.ts';
import { FramePacer, type PcmSource } from './pcm.ts';

export interface SpeechResult {
  reason: 'ended' | 'stopped' | 'error';
  error?: BotError;
}

export interface SpeechStats {
  /** Frames encoded and handed to `send`. */
  frames: number;
  /** Frame slots that passed while the bot was not on stage (nothing sent). */
  idle: number;
  /** Frames skipped because the event loop stalled or sending fell behind. */
  skipped: number;
}

export interface SpeechOptions {
  /** Each Opus frame as encoded, before encryption (e.g. to record what the bot said). */
  onFrame?: (opus: Uint8Array) => void;
}

interface SpeechDeps {
  source: PcmSource;
  encoder: OpusFrameEncoder;
  send: (opus: Uint8Array) => Promise<void>;
  active: () => boolean;
  onFrame?: ((opus: Uint8Array) => void) | undefined;
  log?: ((msg: string) => void) | undefined;
  now?: () => number;
  maxBacklog?: number;
}

export class BotSpeech {
  readonly #d: SpeechDeps;
  readonly #pacer = new FramePacer();
  readonly #now: () => number;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #chain: Promise<void> = Promise.resolve();
  #backlog = 0;
  #done = false;
  #resolve!: (r: SpeechResult) => void;
  readonly #stats = { frames: 0, idle: 0, skipped: 0 };
  /** Resolves when the source ends, `stop` is called, or an error ends the speech. */
  readonly finished: Promise<SpeechResult>;

  constructor(deps: SpeechDeps) {
    this.#d = deps;
    this.#now = deps.now ?? (() => performance.now());
    this.finished = new Promise((r) => {
      this.#resolve = r;
    });
    this.#schedule();
  }

  get speaking(): boolean {
    return !this.#done;
  }

  get stats(): SpeechStats {
    return { ...this.#stats, skipped: this.#stats.skipped + this.#pacer.skipped };
  }

  stop(): void {
    this.#finish({ reason: 'stopped' });
  }

  #schedule(): void {
    if (this.#done) return;
    const now = this.#now();
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, this.#pacer.nextAt(now) - now));
  }

  #tick(): void {
    this.#timer = null;
    const due = this.#pacer.due(this.#now());
    for (let i = 0; i < due && !this.#done; i++) this.#frame();
    this.#schedule();
  }

  #frame(): void {
    const d = this.#d;
    if (!d.active()) {
      this.#stats.idle++;
      return;
    }
    if (this.#backlog >= (d.maxBacklog ?? 25)) {
      this.#stats.skipped++;
      return;
    }
    let pcm: Int16Array | null;
    try {
      pcm = d.source.next();
    } catch (err) {
      this.#finish({
        reason: 'error',
        error: new BotError('source', 'the PCM source failed', { cause: err }),
      });
      return;
    }
    if (pcm === null) {
      this.#finish({ reason: 'ended' });
      return;
    }
    let opus: Uint8Array;
    try {
      opus = d.encoder.encode(pcm);
    } catch (err) {
      const error =
        err instanceof BotError ? err : new BotError('opus', 'Opus encoding failed', { cause: err });
      this.#finish({ reason: 'error', error });
      return;
    }
    this.#stats.frames++;
    d.onFrame?.(opus);
    this.#backlog++;
    this.#chain = this.#chain
      .then(() => d.send(opus))
      .catch((err: unknown) => d.log?.(`bot: sending a frame failed: ${String(err)}`))
      .finally(() => {
        this.#backlog--;
      });
  }

  #finish(result: SpeechResult): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (result.error) this.#d.log?.(`bot: speech ended: ${result.error.message}`);
    // frames already encoded still go out, in order; then the encoder is freed
    void this.#chain.then(() => {
      this.#d.encoder.close();
      this.#resolve(result);
    });
  }
}
