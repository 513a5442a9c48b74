// Full page loads one after another, as someone following links and typing addresses does. A page
// the browser keeps in its back-forward cache keeps its open connections, and a browser allows
// six per host: if the app left its notification stream open in such pages, the seventh page
// would never load. (Seen first as a stalled accessibility test once the server got faster.)
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type RunningServer, startServer } from './server.ts';

const PAGES = ['/', '/clubs', '/events', '/settings', '/u/nav_user', '/', '/clubs', '/events', '/settings'];

describe('navigating between pages', { timeout: 120_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let dir: string;
  let page: Page;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-nav-'));
    server = await startServer();
    browser = await launchChromium(dir);
    page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(10_000);
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Dev username').fill('nav_user');
    await page.getByRole('button', { name: 'Dev sign-in' }).click();
    await page.getByRole('link', { name: 'Hallway', exact: true }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('nine full page loads in a row, each with its notification stream open before leaving', async () => {
    for (const path of PAGES) {
      const stream = page.waitForResponse((r) => r.url().endsWith('/api/notifications/stream'));
      const t0 = performance.now();
      await page.goto(`${server.url}${path}`);
      // the stream is answered (headers in) before we move on: the case that used to stall
      await stream;
      assert.ok(performance.now() - t0 < 10_000, `${path} took ${performance.now() - t0} ms`);
    }
    // back into a page the cache may restore: its stream comes back and the app still answers
    const again = page.waitForResponse((r) => r.url().endsWith('/api/notifications/stream'));
    await page.goBack({ waitUntil: 'commit' }); // a page restored from the cache fires no load
    await again;
    await page.getByRole('button', { name: 'Create event' }).waitFor();
  });
});
