/**
 * Typed errors for SFrame processing. Every failure on the receive path surfaces as an
 * `SFrameError` with a machine-readable `code`, never as a generic exception, so callers can
 * count and drop bad frames without try/catch guesswork.
 */
export type SFrameErrorCode =
  /** Input ended before the header (or the authentication tag) was complete. */
  | 'truncated'
  /** Header is not a minimal RFC 9605 encoding. */
  | 'bad_header'
  /** No key is installed for the KID in the header (the caller MAY buffer and retry). */
  | 'unknown_key'
  /** AEAD authentication failed: the frame was forged, corrupted or keyed differently. */
  | 'auth_failed'
  /** CTR already seen for this KID, or older than the replay window. */
  | 'replay'
  /** Empty frame (no bytes at all, or a ciphertext carrying an empty plaintext). */
  | 'empty'
  /** The sender's counter for this KID cannot advance without reusing a nonce. */
  | 'counter_exhausted'
  /** The cipher suite is not implemented. */
  | 'unsupported_suite'
  /** A caller-supplied argument is out of range (KID/CTR > 2^64-1, short base key, ...). */
  | 'invalid_argument';

export class SFrameError extends Error {
  readonly code: SFrameErrorCode;

  constructor(code: SFrameErrorCode, message?: string) {
    super(message === undefined ? `sframe: ${code}` : `sframe: ${code}: ${message}`);
    this.name = 'SFrameError';
    this.code = code;
  }
}

export function isSFrameError(e: unknown, code?: SFrameErrorCode): e is SFrameError {
  return e instanceof SFrameError && (code === undefined || e.code === code);
}
