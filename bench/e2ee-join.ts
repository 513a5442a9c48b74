/**
 * Join → first decrypted audio, with end-to-end encryption on, against the same path without key
 * delivery (the client's test-only passthrough mode: frames still go through the worker).
 *
 *   npm run build && node --import tsx bench/e2ee-join.ts [--joins 5]
 *
 * `sotto start --dev` (CLI child process) and Debian's Chromium: a speaker opens a room; one
 * listener after another (each a fresh browser profile and dev account) opens the room page; the
 * figure is the page's own time from starting the join to its first decrypted frame (and to
 * holding the key). Bounded: `--joins` listeners per mode (default 5, at most 20), each within
 * 30 s. Prints a table, then one JSON line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../packages/media/test/support/chromium.ts';
import { startServer } from '../packages/web/test/e2e/server.ts';
import { e2eeStats, Harness, hookScript, listenScript, type User } from '../packages/web/test/e2e/support.ts';

const { values } = parseArgs({ options: { joins: { type: 'string', default: '5' } } });
const JOINS = Math.min(20, Math.max(1, Number(values.joins) || 5));
const PER_JOIN_MS = 30_000;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2 : Number.NaN;
};

async function firstDecrypt(u: User): Promise<{ frameMs: number; keyMs: number | null }> {
  const end = Date.now() + PER_JOIN_MS;
  while (Date.now() < end) {
    const s = await e2eeStats(u);
    if (s?.firstDecryptAt)
      return {
        frameMs: s.firstDecryptAt - s.joinStartedAt,
        keyMs: s.firstKeyAt ? s.firstKeyAt - s.joinStartedAt : null,
      };
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${u.username}: no decrypted frame within ${PER_JOIN_MS} ms`);
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'sotto-bench-e2ee-'));
  const server = await startServer();
  const browsers: Browser[] = [];
  try {
    const speakerBrowser = await launchChromium(dir, 440);
    const listenerBrowser = await launchChromium(dir);
    browsers.push(speakerBrowser, listenerBrowser);
    const h = new Harness(server, await listenScript());
    const results: Record<'e2ee' | 'baseline', { frameMs: number[]; keyMs: number[] }> = {
      e2ee: { frameMs: [], keyMs: [] },
      baseline: { frameMs: [], keyMs: [] },
    };
    // dev sign-in (the server runs with --dev): no invite limits, and not part of what is timed
    const person = async (browser: Browser, username: string, hook: string): Promise<User> => {
      const u = await h.newUser(browser, username, username, hook);
      const r = await u.page.request.post(`${server.url}/api/auth/dev`, { data: { username } });
      if (!r.ok()) throw new Error(`dev sign-in ${username}: ${r.status()}`);
      await u.page.goto(`${server.url}/`);
      return u;
    };
    for (const mode of ['e2ee', 'baseline'] as const) {
      const hook = hookScript(mode === 'e2ee' ? {} : { passthroughForTest: true });
      const speaker = await person(speakerBrowser, `spk_${mode}`, hook);
      await speaker.page.getByLabel('Topic').fill(`bench ${mode}`);
      await speaker.page.getByRole('button', { name: 'Start a room' }).click();
      await speaker.page.waitForURL(/\/room\/[^/]+$/);
      const path = new URL(speaker.page.url()).pathname;
      for (let i = 0; i < JOINS; i++) {
        const u = await person(listenerBrowser, `lis_${mode}_${i}`, hook);
        await u.page.goto(`${server.url}${path}`);
        const r = await firstDecrypt(u);
        results[mode].frameMs.push(r.frameMs);
        if (r.keyMs !== null) results[mode].keyMs.push(r.keyMs);
        await u.page.context().close();
      }
    }
    const e = median(results.e2ee.frameMs);
    const b = median(results.baseline.frameMs);
    const round = (x: number) => Math.round(x);
    console.log(`join → first decrypted frame, ${JOINS} listeners each (Chromium, 2 cores):`);
    console.log(`  E2EE on:   p50 ${round(e)} ms  (all: ${results.e2ee.frameMs.map(round).join(', ')})`);
    console.log(`             key held at p50 ${round(median(results.e2ee.keyMs))} ms`);
    console.log(`  baseline:  p50 ${round(b)} ms  (all: ${results.baseline.frameMs.map(round).join(', ')})`);
    console.log(`  added by key delivery (p50 difference): ${round(e - b)} ms`);
    console.log(
      JSON.stringify({
        joins: JOINS,
        e2ee_first_frame_p50_ms: round(e),
        e2ee_key_p50_ms: round(median(results.e2ee.keyMs)),
        baseline_first_frame_p50_ms: round(b),
        added_p50_ms: round(e - b),
      }),
    );
  } finally {
    await Promise.allSettled(browsers.map((b) => b.close()));
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
