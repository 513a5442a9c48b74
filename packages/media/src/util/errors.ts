/** A typed error that carries an HTTP status and a stable machine-readable code. */
export class MediaError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

/** Runs a close/teardown step whose failure is harmless (closing twice, or after the native side went away). */
export function closeQuietly(fn: () => void): void {
  try {
    fn();
  } catch {
    // already closed
  }
}
