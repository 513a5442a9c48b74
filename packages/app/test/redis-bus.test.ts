/**
 * The distributed RoomBus against a real Redis: events cross processes exactly once and in order;
 * two app servers sharing a database deliver each other's room changes to their SSE streams —
 * and, as the control, with the in-process bus they do not.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { API_KEY, API_SECRET, startTestNode, type TestNode } from '../../media/test/support/node.ts';
import type { RoomState } from '../src/api/schemas.ts';
import { type AppServer, createAppServer } from '../src/index.ts';
import type { BusEvent } from '../src/realtime/bus.ts';
import { RedisBus } from '../src/realtime/redis-bus.ts';
import { redisUrl } from './support/redis.ts';
import { openSse } from './support/sse.ts';
import { Client } from './support/stack.ts';

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RedisBus', () => {
  test('events published in one process reach subscribers in another, once each, in order', async () => {
    const url = await redisUrl();
    const a = await RedisBus.connect(url);
    const b = await RedisBus.connect(url);
    try {
      const topic = `room:t${Date.now()}`;
      const gotB: BusEvent[] = [];
      const gotB2: BusEvent[] = [];
      const gotA: BusEvent[] = [];
      const offB = b.subscribe(topic, (e) => gotB.push(e));
      const offB2 = b.subscribe(topic, (e) => gotB2.push(e));
      a.subscribe('room:other', (e) => gotA.push(e));
      await b.ready();
      for (let v = 1; v <= 3; v++) a.publish(topic, { kind: 'changed', version: v });
      await settle(300);
      assert.deepEqual(
        gotB.map((e) => (e.kind === 'changed' ? e.version : -1)),
        [1, 2, 3],
      );
      assert.equal(gotB2.length, 3);
      assert.equal(gotA.length, 0, 'another topic saw nothing');
      offB2();
      a.publish(topic, { kind: 'ended' });
      await settle(300);
      assert.equal(gotB.at(-1)?.kind, 'ended', 'the remaining subscriber still receives');
      assert.equal(gotB2.length, 3, 'the unsubscribed one does not');
      offB();
      a.publish(topic, { kind: 'ended' });
      await settle(300);
      assert.equal(gotB.length, 4);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('connecting to a Redis that is not there is a clear error', async () => {
    await assert.rejects(
      RedisBus.connect('redis://127.0.0.1:1'),
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
    );
  });
});

interface Pair {
  node: TestNode;
  a: { app: AppServer; server: Server; url: string };
  b: { app: AppServer; server: Server; url: string };
  stop(): Promise<void>;
}

/** Two app servers on one SQLite file and one media node, as two processes behind a balancer. */
async function twoAppServers(redis: string | undefined): Promise<Pair> {
  const dir = await mkdtemp(join(tmpdir(), 'sotto-two-apps-'));
  const node = await startTestNode();
  const one = async () => {
    const app = await createAppServer({
      database: `sqlite:${join(dir, 'shared.db')}`,
      media: { apiUrl: node.httpUrl, apiKey: API_KEY, apiSecret: API_SECRET, publicUrl: node.url },
      dev: true,
      ...(redis ? { redisUrl: redis } : {}),
    });
    const server = createServer(app.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const addr = server.address();
    return { app, server, url: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}` };
  };
  const a = await one();
  const b = await one();
  return {
    node,
    a,
    b,
    stop: async () => {
      for (const s of [a, b]) {
        s.server.closeAllConnections();
        await new Promise<void>((r) => s.server.close(() => r()));
        await s.app.close();
      }
      await node.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function signIn(base: string, username: string): Promise<Client> {
  const c = new Client(base);
  const r = await c.post<{ user: { id: string } }>('/api/auth/dev', { username });
  assert.equal(r.status, 200);
  c.id = r.body.user.id;
  return c;
}

describe('two app servers', () => {
  for (const withRedis of [true, false]) {
    test(
      withRedis
        ? 'with the Redis bus, a change made through one reaches SSE streams on the other'
        : 'control: with the in-process bus, the other server never hears of the change',
      async () => {
        const pair = await twoAppServers(withRedis ? await redisUrl() : undefined);
        try {
          const mod = await signIn(pair.a.url, 'mod_redis');
          const room = await mod.post<RoomState>('/api/rooms', { topic: 'Across processes' });
          assert.equal(room.status, 200);
          assert.equal((await mod.post(`/api/rooms/${room.body.id}/join`)).status, 200);
          // the listener is served by the other process; the session lives in the shared database
          const lis = await signIn(pair.b.url, 'lis_redis');
          assert.equal((await lis.post(`/api/rooms/${room.body.id}/join`)).status, 200);
          const sse = await openSse(`${pair.b.url}/api/rooms/${room.body.id}/events`, lis.headers());
          try {
            await sse.next('state');
            const changed = await mod.patch<RoomState>(`/api/rooms/${room.body.id}/settings`, {
              handRaise: 'off',
            });
            assert.equal(changed.status, 200);
            const sawIt = (data: unknown) => (data as RoomState).handRaise === 'off';
            if (withRedis) {
              const st = (await sse.next('state', sawIt, 5000)) as RoomState;
              assert.equal(st.handRaise, 'off');
            } else {
              await settle(1500);
              assert.equal(
                sse.events.filter((e) => e.event === 'state' && sawIt(JSON.parse(e.data))).length,
                0,
              );
            }
          } finally {
            sse.close();
          }
        } finally {
          await pair.stop();
        }
      },
    );
  }
});
