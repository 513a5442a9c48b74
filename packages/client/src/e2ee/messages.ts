/** Messages between the main thread and the E2EE frame worker. */
import type { FrameCryptoStats, SendKey } from './frame-crypto.ts';

export type ToWorker =
  | { t: 'base'; generation: number; step: number; key: Uint8Array }
  | { t: 'send'; key: SendKey }
  | { t: 'forget'; generation: number; step?: number }
  | { t: 'capture'; on: boolean }
  | { t: 'passthrough' }
  | { t: 'streams'; operation: 'encrypt' | 'decrypt'; readable: ReadableStream; writable: WritableStream }
  | { t: 'stats'; id: number }
  | { t: 'clear' };

export type FromWorker =
  | { t: 'missing'; generation: number }
  | { t: 'log'; msg: string }
  | { t: 'plain'; frame: Uint8Array }
  | { t: 'stats'; id: number; stats: FrameCryptoStats; firstDecryptAt: number | null };
