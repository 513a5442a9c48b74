/**
 * Robustness: every documented route, fed garbage (no body, null, arrays, strings, deep nesting,
 * odd path parameters), answers with a problem document or success — never a 5xx. And the web app
 * is served from webDist with an SPA fallback, without escaping the directory.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { forEachBackend, withStack } from './support/each.ts';

const BODIES = [
  '',
  'null',
  '[]',
  '"text"',
  '42',
  '{"a":1}',
  `${'['.repeat(500)}${']'.repeat(500)}`,
  '{"topic":null}',
];
const PARAMS = ['x', '%E2%98%83', "'; drop table users; --", '..%2F..%2Fetc'];

forEachBackend('robustness', (start) => {
  test('no route answers 5xx to garbage', () =>
    withStack(start, async (s) => {
      const u = await s.user('fuzzer');
      const room = await u.post<{ id: string }>('/api/rooms', { topic: 'fuzz' });
      assert.equal(room.status, 200);
      const doc = await u.get<{ paths: Record<string, Record<string, unknown>> }>('/api/openapi.json');
      let calls = 0;
      for (const [path, methods] of Object.entries(doc.body.paths)) {
        for (const method of Object.keys(methods)) {
          if (method === 'get' && (path.endsWith('/events') || path.endsWith('/stream'))) continue;
          for (const param of PARAMS) {
            const url = path.replace(/\{[^}]+\}/g, param);
            for (const body of method === 'get' ? [''] : BODIES) {
              for (const who of [u, s.anonymous()]) {
                const r = await fetch(s.url + url, {
                  method: method.toUpperCase(),
                  headers: { ...who.headers(), ...(body ? { 'content-type': 'application/json' } : {}) },
                  body: body || undefined,
                });
                calls++;
                const text = await r.text();
                const open =
                  url.startsWith('/api/auth/') || url === '/api/openapi.json' || url === '/api/media/webhook';
                const waitlist = url === '/api/waitlist' && method === 'post';
                if (who !== u && !open && !waitlist)
                  assert.equal(
                    r.status,
                    401,
                    `anonymous ${method} ${url} ${body.slice(0, 20)} → ${r.status} ${text.slice(0, 120)}`,
                  );
                assert.ok(
                  r.status < 500,
                  `${method} ${url} ${body.slice(0, 20)} → ${r.status} ${text.slice(0, 200)}`,
                );
                if (r.status >= 400)
                  assert.match(
                    r.headers.get('content-type') ?? '',
                    /problem\+json/,
                    `${method} ${url} → ${r.status}`,
                  );
              }
            }
          }
        }
      }
      assert.ok(calls > 500, `exercised ${calls} calls`);
      // the room is still intact (sign in again: the fuzzing called logout)
      const again = await s.user('fuzzer');
      const st = await again.get<{ status: string }>(`/api/rooms/${room.body.id}`);
      assert.equal(st.body.status, 'live');
    }));
});

test('the web app is served from webDist with an SPA fallback', async () => {
  const dist = mkdtempSync(join(tmpdir(), 'sotto-web-'));
  mkdirSync(join(dist, 'assets'));
  writeFileSync(join(dist, 'index.html'), '<!doctype html><title>Sotto</title>');
  writeFileSync(join(dist, 'assets', 'app.js'), 'console.log(1)');
  const { BACKENDS } = await import('./support/postgres.ts');
  try {
    await withStack(
      async (opts) => (await import('./support/stack.ts')).startStack(BACKENDS[0], opts),
      async (s) => {
        const index = await fetch(`${s.url}/`);
        assert.equal(index.status, 200);
        assert.match(index.headers.get('content-type') ?? '', /text\/html/);
        assert.match(await index.text(), /<title>Sotto<\/title>/);
        const route = await fetch(`${s.url}/rooms/room_abc`);
        assert.equal(route.status, 200);
        assert.match(await route.text(), /<title>Sotto/);
        const js = await fetch(`${s.url}/assets/app.js`);
        assert.match(js.headers.get('content-type') ?? '', /javascript/);
        assert.equal(await js.text(), 'console.log(1)');
        assert.equal((await fetch(`${s.url}/assets/missing.js`)).status, 404);
        const traversal = await fetch(`${s.url}/..%2F..%2F..%2Fetc%2Fpasswd`);
        const body = await traversal.text();
        assert.doesNotMatch(body, /root:/);
        assert.match(body, /<title>Sotto/, 'a path outside webDist falls back to index.html');
        // /api is still the API
        const api = await fetch(`${s.url}/api/nope`);
        assert.equal(api.status, 404);
        assert.match(api.headers.get('content-type') ?? '', /problem\+json/);
      },
      { webDist: dist },
    );
  } finally {
    rmSync(dist, { recursive: true, force: true });
  }
});
