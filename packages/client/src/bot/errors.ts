/** Errors of `@sotto/client/bot`, by a stable code (app API errors stay `ApiError`). */

export type BotErrorCode =
  /** `start` was called twice, or `speak` before `start`. */
  | 'bad_state'
  /** `speak` while the bot is already speaking. */
  | 'already_speaking'
  /** The transport given to `start` cannot send audio (`sendAudio` is missing). */
  | 'no_audio_transport'
  /** PCM that is not one 20 ms mono 48 kHz frame (960 samples), or a bad tone/clip setting. */
  | 'bad_pcm'
  /** The Opus encoder could not be loaded or refused a setting or a frame. */
  | 'opus'
  /** The PCM source threw. */
  | 'source';

export class BotError extends Error {
  readonly code: BotErrorCode;

  constructor(code: BotErrorCode, message: string, options?: { cause?: unknown }) {
    super(`bot: ${message}`, options);
    this.name = 'BotError';
    this.code = code;
  }
}

export function isBotError(err: unknown): err is BotError {
  return err instanceof BotError;
}
