/** Messages between the main thread and the E2EE frame worker. */
import type { FrameCryptoStats, SendKey } from './frame-crypto.ts';
import type { SpeakerGate } from './speaker-gate.ts';

export type SpeakerGateStats = SpeakerGate['stats'];

export type ToWorker =
  | { t: 'base'; generation: number; step: number; key: Uint8Array }
  | { t: 'send'; key: SendKey }
  | { t: 'nosend' }
  | { t: 'forget'; generation: number; step?: number }
  | { t: 'capture'; on: boolean }
  | { t: 'passthrough' }
  | { t: 'streams'; operation: 'encrypt' | 'decrypt'; readable: ReadableStream; writable: WritableStream }
  | { t: 'stats'; id: number }
  | { t: 'clear' }
  /** Speaker authenticity: our signing key (the device's) and the room context. */
  | { t: 'signer'; key: CryptoKey; context: Uint8Array }
  | { t: 'roster'; generation: number; entries: [number, Uint8Array][] }
  /** A speaker's signature message, received as a data packet. */
  | { t: 'sig'; message: Uint8Array }
  /** Test-only negative control: play decrypted frames without checking speaker signatures. */
  | { t: 'noverify' }
  /** Test-only: encrypt frames under someone else's KID (what a listener with the key can do). */
  | { t: 'forge'; id: number; kid: string; firstCtr: string; frames: Uint8Array[] }
  /** Test-only: how many of these frames the keys held now open (replay windows ignored). */
  | { t: 'trydecrypt'; id: number; frames: Uint8Array[] };

export type FromWorker =
  | { t: 'missing'; generation: number }
  | { t: 'log'; msg: string }
  | { t: 'plain'; frame: Uint8Array }
  | {
      t: 'stats';
      id: number;
      stats: FrameCryptoStats;
      firstDecryptAt: number | null;
      speakers: SpeakerGateStats;
      /** Generations the worker holds frame keys for (what it could still open). */
      keyGenerations: number[];
    }
  /** A signature over the frames we sent: publish it to the room. */
  | { t: 'sig'; message: Uint8Array }
  | { t: 'forged'; id: number; frames: Uint8Array[] | null }
  | { t: 'tried'; id: number; opened: number };
