/** The app server's configuration (see createAppServer). */
import type { MediaConfig } from './media/gateway.ts';

export interface AppConfig {
  /** `sqlite:PATH` | `sqlite::memory:` | `postgres://…` */
  database: string;
  media: MediaConfig;
  /** Dev mode: offers the dev sign-in (loopback only). */
  dev: boolean;
  rpName?: string;
  /** WebAuthn relying party id; default: the request's hostname. */
  rpId?: string;
  /** Allowed WebAuthn origins; default: the request's origin. */
  origins?: string[];
  /** How long reports are kept (default 90 days). */
  reportRetentionDays?: number;
  /** Directory of the built web app, served for non-/api paths (SPA fallback to index.html). */
  webDist?: string;
  /** SSE comment heartbeat period in ms (default 15 000). */
  sseHeartbeatMs?: number;
  /**
   * How long a member whose media connection dropped stays in the room before it counts as a
   * (quiet) leave; a page reload rejoins well within it (default 15 000 ms).
   */
  mediaDisconnectGraceMs?: number;
  /**
   * Redis for the real-time bus (`redis://host:6379`), so that several app server processes
   * deliver each other's room events; default: in-process.
   */
  redisUrl?: string;
}
