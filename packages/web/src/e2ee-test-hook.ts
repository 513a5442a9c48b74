/**
 * Test-only switch for end-to-end encryption. The browser tests inject `globalThis.sottoE2eeTest`
 * (an init script, before the app loads) to turn E2EE off for a negative control, to capture the
 * sender's plaintext frames for the media-node canary, and to reach the RoomSession for stats.
 * Without it (every real page) RoomSession uses its defaults: E2EE on.
 */
import type { RoomSession, RoomSessionOptions } from '@sotto/client';

export interface E2eeTestHook {
  options: NonNullable<RoomSessionOptions['e2ee']>;
  onSession?: (session: RoomSession) => void;
}

export function e2eeTestHook(): E2eeTestHook | undefined {
  return (globalThis as { sottoE2eeTest?: E2eeTestHook }).sottoE2eeTest;
}
