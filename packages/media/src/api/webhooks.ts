/**
 * LiveKit-format webhooks: a JSON WebhookEvent POSTed with `Authorization: <JWT>` whose sha256
 * claim is the base64 SHA-256 of the body. Delivered from a queue with retries and backoff —
 * never on the media path, never blocking a join.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WebhookEvent } from '@livekit/protocol';
import { signToken } from '../auth/token.ts';
import { logger } from '../util/log.ts';

const log = logger('webhook');

export interface WebhookConfig {
  urls: string[];
  apiKey: string;
  secret: string;
  /** Attempts per event per URL (first try included). */
  maxAttempts?: number;
  /** First retry delay; doubles each attempt. */
  backoffMs?: number;
  timeoutMs?: number;
}

export class WebhookNotifier {
  private inflight = 0;
  private readonly maxQueue = 10_000;

  constructor(private readonly cfg: WebhookConfig) {}

  /** Adds a receiver (the in-process app server learns its URL only once the port is bound). */
  addUrl(url: string): void {
    if (!this.cfg.urls.includes(url)) this.cfg.urls.push(url);
  }

  notify(event: Omit<ConstructorParameters<typeof WebhookEvent>[0] & object, 'id' | 'createdAt'>): void {
    if (this.cfg.urls.length === 0) return;
    if (this.inflight >= this.maxQueue) {
      log.warn('webhook queue full, event dropped', { event: event.event });
      return;
    }
    const ev = new WebhookEvent({
      ...event,
      id: `EV_${randomUUID()}`,
      createdAt: BigInt(Math.floor(Date.now() / 1000)),
    });
    const body = ev.toJsonString();
    for (const url of this.cfg.urls) {
      this.inflight++;
      void this.deliver(url, body, ev.event).finally(() => this.inflight--);
    }
  }

  /** Waits until every queued delivery has finished (used at shutdown and by tests). */
  async drain(timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (this.inflight > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  }

  private async deliver(url: string, body: string, name: string): Promise<void> {
    const attempts = this.cfg.maxAttempts ?? 5;
    let delay = this.cfg.backoffMs ?? 500;
    const sha256 = createHash('sha256').update(body).digest('base64');
    for (let i = 1; i <= attempts; i++) {
      try {
        const token = await signToken(this.cfg.apiKey, this.cfg.secret, { sha256 }, 600);
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/webhook+json', authorization: token },
          body,
          signal: AbortSignal.timeout(this.cfg.timeoutMs ?? 5000),
        });
        if (res.ok) return;
        log.info('webhook rejected', { event: name, status: res.status, attempt: i });
      } catch (err) {
        log.info('webhook delivery failed', { event: name, attempt: i, err: String(err) });
      }
      if (i < attempts) {
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
    log.warn('webhook given up', { event: name, attempts });
  }
}
