// Accessibility of every page as the app serves it: axe-core (WCAG 2 A/AA rules) in Chromium,
// at desktop and phone widths. Serious and critical findings fail the test.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type RunningServer, startServer } from './server.ts';

const AXE = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const VIEWPORTS = [
  { name: 'desktop', width: 1280, height: 800 },
  { name: 'phone', width: 375, height: 812 },
];

interface Finding {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

/** Runs axe on the page as it is now; returns serious and critical findings. */
async function audit(page: Page): Promise<Finding[]> {
  await page.addScriptTag({ path: AXE });
  const findings = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: Document, o: object): Promise<unknown> } }).axe;
    const result = (await axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
    })) as {
      violations: { id: string; impact: string | null; help: string; nodes: { target: string[] }[] }[];
    };
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return findings.filter((f) => f.impact === 'serious' || f.impact === 'critical');
}

describe('accessibility (axe-core, WCAG 2.1 A/AA)', { timeout: 180_000 }, () => {
  let server: RunningServer;
  let browser: Browser;
  let dir: string;
  let page: Page;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-a11y-'));
    server = await startServer();
    browser = await launchChromium(dir);
    const context = await browser.newContext();
    context.setDefaultTimeout(20_000);
    page = await context.newPage();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function check(path: string, ready: () => Promise<unknown>): Promise<void> {
    for (const vp of VIEWPORTS) {
      await page.setViewportSize(vp);
      await page.goto(`${server.url}${path}`);
      await ready();
      const findings = await audit(page);
      assert.deepEqual(findings, [], `${path} at ${vp.name} width: ${JSON.stringify(findings, null, 2)}`);
    }
  }

  it('the sign-in and sign-up pages', async () => {
    await check('/signin', () => page.getByRole('button', { name: 'Sign in with a passkey' }).waitFor());
    await check('/signup', () => page.getByRole('button', { name: 'Sign up with a passkey' }).waitFor());
  });

  it('the hallway, a room, a profile, clubs, events and settings', async () => {
    await page.goto(`${server.url}/signin`);
    await page.getByLabel('Dev username').fill('ada_a11y');
    await page.getByRole('button', { name: 'Dev sign-in' }).click();
    await page.getByRole('link', { name: 'Hallway', exact: true }).waitFor();
    await page.getByLabel('Topic').fill('Screen readers welcome');
    await page.getByRole('button', { name: 'Start a room' }).click();
    await page.waitForURL(/\/room\/[^/]+$/);
    const room = new URL(page.url()).pathname;
    // the stage with its E2EE security code (shown once the moderator's MLS stage exists)
    await check(room, () => page.getByTestId('security-code').waitFor());
    await check('/', () => page.getByRole('link', { name: 'Screen readers welcome', exact: true }).waitFor());
    await check('/u/ada_a11y', () => page.getByRole('heading', { level: 1 }).waitFor());
    await check('/clubs', () => page.getByRole('button', { name: 'Create club' }).waitFor());
    await check('/events', () => page.getByRole('button', { name: 'Create event' }).waitFor());
    await check('/settings', () => page.getByRole('button', { name: 'Save profile' }).waitFor());
  });
});
