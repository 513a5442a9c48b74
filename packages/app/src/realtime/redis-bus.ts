/**
 * The distributed RoomBus: events go through Redis pub/sub, so every app server process behind a
 * load balancer delivers them to its own SSE streams. Same interface as LocalBus (which still does
 * the per-process fan-out); a process delivers its own events when Redis echoes them back, so each
 * subscriber sees each event exactly once, in publish order per topic.
 */

import { logger } from '@sotto/media';
import { Redis } from 'ioredis';
import { type BusEvent, LocalBus, type RoomBus } from './bus.ts';

const log = logger('app.bus');
const PREFIX = 'sotto:bus:';

export class RedisBus implements RoomBus {
  private readonly local = new LocalBus();
  private readonly pub: Redis;
  private readonly sub: Redis;
  /** Topics this process is subscribed to in Redis, with their local listener counts. */
  private readonly topics = new Map<string, number>();

  private constructor(url: string) {
    const opts = { maxRetriesPerRequest: 3, lazyConnect: true };
    this.pub = new Redis(url, opts);
    this.sub = new Redis(url, opts);
    for (const c of [this.pub, this.sub]) c.on('error', (err) => log.warn('redis', { error: err.message }));
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const topic = channel.toString().slice(PREFIX.length);
      let event: BusEvent;
      try {
        event = JSON.parse(message.toString()) as BusEvent;
      } catch {
        log.warn('unreadable bus message dropped');
        return;
      }
      this.local.publish(topic, event);
    });
  }

  /** Connects both connections; fails (clearly) when Redis is not reachable. */
  static async connect(url: string): Promise<RedisBus> {
    const bus = new RedisBus(url);
    try {
      await Promise.all([bus.pub.connect(), bus.sub.connect()]);
    } catch (err) {
      bus.pub.disconnect();
      bus.sub.disconnect();
      throw new Error(`cannot reach Redis at ${url}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return bus;
  }

  publish(topic: string, event: BusEvent): void {
    this.pub.publish(PREFIX + topic, JSON.stringify(event)).catch((err: Error) => {
      log.warn('bus publish failed', { error: err.message });
    });
  }

  subscribe(topic: string, listener: (event: BusEvent) => void): () => void {
    const off = this.local.subscribe(topic, listener);
    const n = this.topics.get(topic) ?? 0;
    this.topics.set(topic, n + 1);
    if (n === 0)
      this.sub
        .subscribe(PREFIX + topic)
        .catch((err: Error) => log.warn('bus subscribe failed', { error: err.message }));
    let done = false;
    return () => {
      if (done) return;
      done = true;
      off();
      const left = (this.topics.get(topic) ?? 1) - 1;
      if (left > 0) {
        this.topics.set(topic, left);
        return;
      }
      this.topics.delete(topic);
      this.sub.unsubscribe(PREFIX + topic).catch(() => {});
    };
  }

  /** Resolves once Redis has confirmed every subscription made so far (tests wait on it). */
  async ready(): Promise<void> {
    await this.sub.ping().catch(() => {});
  }

  async close(): Promise<void> {
    await this.local.close();
    this.topics.clear();
    await Promise.allSettled([this.pub.quit(), this.sub.quit()]);
  }
}
