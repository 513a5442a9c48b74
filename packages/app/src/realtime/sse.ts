/**
 * Server-Sent Events on top of the bus: one writer per connection, writes in order, `state`
 * refreshes coalesced (a burst of changes costs one snapshot), a comment heartbeat every 15 s, and
 * the subscription dropped when the client goes away.
 */
import type { Context } from 'hono';
import { type SSEStreamingApi, streamSSE } from 'hono/streaming';
import type { AppEnv } from '../api/env.ts';
import type { BusEvent, RoomBus } from './bus.ts';

export const HEARTBEAT_MS = 15_000;

export interface Channel {
  /** Sends one event (JSON data). */
  send(event: string, data: unknown): void;
  /** Queues a task that runs after earlier writes (e.g. to build and send a fresh state). */
  queue(task: (stream: SSEStreamingApi) => Promise<void>): void;
  close(): void;
}

/**
 * Opens an SSE response subscribed to `topic`; `onOpen` sends the first events, `onEvent` maps
 * bus events to SSE events.
 */
export function sseResponse(
  c: Context<AppEnv>,
  bus: RoomBus,
  /** Open streams, so that closing the app server can end them. */
  open: Set<Channel>,
  topic: string,
  heartbeatMs: number,
  handlers: { onOpen(ch: Channel): void; onEvent(ev: BusEvent, ch: Channel): void },
): Response {
  return streamSSE(c, async (stream) => {
    let chain: Promise<void> = Promise.resolve();
    let done!: () => void;
    const finished = new Promise<void>((resolve) => {
      done = resolve;
    });
    let closed = false;
    const ch: Channel = {
      queue: (task) => {
        chain = chain.then(() => (closed ? undefined : task(stream))).catch(() => ch.close());
      },
      send: (event, data) => ch.queue((st) => st.writeSSE({ event, data: JSON.stringify(data) })),
      close: () => {
        if (closed) return;
        closed = true;
        done();
      },
    };
    open.add(ch);
    const unsubscribe = bus.subscribe(topic, (ev) => handlers.onEvent(ev, ch));
    const heartbeat = setInterval(
      () => ch.queue((st) => st.write(': heartbeat\n\n').then(() => undefined)),
      heartbeatMs,
    );
    heartbeat.unref();
    stream.onAbort(() => ch.close());
    c.env?.outgoing?.once('close', () => ch.close());
    handlers.onOpen(ch);
    await finished;
    clearInterval(heartbeat);
    unsubscribe();
    open.delete(ch);
    await chain.catch(() => undefined);
  });
}
