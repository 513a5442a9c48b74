/** The notification stream (`GET /api/notifications/stream`, SSE event `notification`). */
import type { Notification } from '@sotto/app/api';
import { SottoApi } from './api.ts';
import { Emitter } from './emitter.ts';
import type { EventSourceLike } from './room.ts';

export interface NotificationEvents {
  notification: [Notification];
}

export class NotificationStream extends Emitter<NotificationEvents> {
  #es: EventSourceLike | null = null;
  readonly #api: SottoApi;
  readonly #factory: (url: string) => EventSourceLike;

  constructor(options: { api?: SottoApi; eventSource?: (url: string) => EventSourceLike } = {}) {
    super();
    this.#api = options.api ?? new SottoApi();
    this.#factory = options.eventSource ?? ((url) => new EventSource(url, { withCredentials: true }));
  }

  open(): this {
    if (this.#es) return this;
    const es = this.#factory(this.#api.notificationsStreamUrl());
    es.addEventListener('notification', (ev) => {
      try {
        this.emit('notification', JSON.parse(String(ev.data)) as Notification);
      } catch {
        // ignore malformed events
      }
    });
    this.#es = es;
    return this;
  }

  close(): void {
    this.#es?.close();
    this.#es = null;
    this.removeAllListeners();
  }
}
