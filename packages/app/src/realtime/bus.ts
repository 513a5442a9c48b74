/**
 * Fan-out of real-time events to the SSE streams: one small publish/subscribe interface so that a
 * Redis-backed bus can replace the in-process one when the app server runs as several processes.
 * Topics: `room:<roomId>` and `user:<userId>`.
 */
import type { ChatMessage, Notification } from '../api/schemas.ts';

export type BusEvent =
  /** The room changed; subscribers rebuild their view (the database holds the state). */
  | { kind: 'changed'; version: number }
  | { kind: 'chat'; message: ChatMessage }
  | { kind: 'ended' }
  | { kind: 'removed'; userId: string; blocked: boolean }
  | { kind: 'notification'; notification: Notification };

export interface RoomBus {
  publish(topic: string, event: BusEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(topic: string, listener: (event: BusEvent) => void): () => void;
  close(): Promise<void>;
}

export class LocalBus implements RoomBus {
  private readonly topics = new Map<string, Set<(event: BusEvent) => void>>();

  publish(topic: string, event: BusEvent): void {
    const listeners = this.topics.get(topic);
    if (!listeners) return;
    for (const l of [...listeners]) {
      try {
        l(event);
      } catch {
        // one broken stream must not stop the others
      }
    }
  }

  subscribe(topic: string, listener: (event: BusEvent) => void): () => void {
    let set = this.topics.get(topic);
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
    }
    set.add(listener);
    return () => {
      const s = this.topics.get(topic);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) this.topics.delete(topic);
    };
  }

  /** Number of live subscriptions (tests check that disconnects clean up). */
  get subscriptionCount(): number {
    let n = 0;
    for (const s of this.topics.values()) n += s.size;
    return n;
  }

  async close(): Promise<void> {
    this.topics.clear();
  }
}

export const roomTopic = (roomId: string) => `room:${roomId}`;
export const userTopic = (userId: string) => `user:${userId}`;
