// Shared helpers for the web app's browser tests: people with their own Chromium profile and a
// virtual passkey authenticator, sign-up through the UI, invites, tone/level detection in the page.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { E2eeStats } from '@sotto/client';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import type { ToneResult } from '../../../media/test/browser/types.ts';
import type { RunningServer } from './server.ts';

export const SHOTS = fileURLToPath(new URL('../../../../.test-artifacts/e2e/', import.meta.url));

/** The page-side listener (listen-page.ts) as an init script. */
export async function listenScript(): Promise<string> {
  const out = await build({
    entryPoints: [fileURLToPath(new URL('./listen-page.ts', import.meta.url))],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  const [file] = out.outputFiles;
  if (!file) throw new Error('esbuild produced no output');
  return file.text;
}

export interface User {
  page: Page;
  username: string;
  displayName: string;
  logs: string[];
}

export class Harness {
  readonly users: User[] = [];
  constructor(
    readonly server: RunningServer,
    readonly script: string,
  ) {}

  /** A person with their own browser profile and a passkey authenticator on their device. */
  async newUser(browser: Browser, username: string, displayName: string, initScript = ''): Promise<User> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(20_000);
    await context.addInitScript({ content: `${initScript}\n${this.script}` });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
    const user: User = { page, username, displayName, logs: [] };
    page.on('console', (m) => user.logs.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => user.logs.push(`[pageerror] ${e.message}`));
    this.users.push(user);
    return user;
  }

  async signUp(user: User, invite: string): Promise<void> {
    const { page } = user;
    await page.goto(`${this.server.url}/signup?invite=${encodeURIComponent(invite)}`);
    await page.getByLabel('Username', { exact: true }).fill(user.username);
    await page.getByLabel('Display name', { exact: true }).fill(user.displayName);
    await page.getByRole('button', { name: 'Sign up with a passkey' }).click();
    await page.getByRole('link', { name: 'Hallway', exact: true }).waitFor();
  }

  /** `from` hands out an invite code (Settings → Create invite code, through its API call). */
  async invite(from: User): Promise<string> {
    const res = await from.page.request.post(`${this.server.url}/api/invites`, { data: {} });
    assert.equal(res.status(), 200, await res.text());
    const { code } = (await res.json()) as { code: string };
    return code;
  }

  member(user: User, who: User, where: 'stage' | 'audience') {
    return user.page.locator(`[data-testid="${where}-member"][data-username="${who.username}"]`);
  }

  detectTone(user: User, hz: number, timeoutMs = 15_000): Promise<ToneResult> {
    return user.page.evaluate(
      ([h, t]) =>
        (
          globalThis as unknown as { sottoTest: { detectTone(hz: number, ms: number): Promise<ToneResult> } }
        ).sottoTest.detectTone(h, t),
      [hz, timeoutMs] as const,
    );
  }

  /** Rethrows with every page's console tail and the server's output; saves each page's screenshot. */
  async failWithLogs(err: unknown): Promise<never> {
    await Promise.allSettled(
      this.users.map((u) => u.page.screenshot({ path: join(SHOTS, `failure-${u.username}.png`) })),
    );
    const logs = this.users.map((u) => `--- ${u.username}\n${u.logs.slice(-30).join('\n')}`).join('\n');
    throw new Error(`${(err as Error).message}\n${logs}\n--- server\n${this.server.output().slice(-4000)}`);
  }
}

// ---- the web app's E2EE test hook (src/e2ee-test-hook.ts) ----

export interface HookOptions {
  enabled?: boolean;
  capture?: boolean;
  passthroughForTest?: boolean;
  dropKeyMessagesForTest?: boolean;
  skipSpeakerVerificationForTest?: boolean;
  forgeryForTest?: boolean;
  retainKeysForTest?: boolean;
}

/** The page-side test hook the web app reads (src/e2ee-test-hook.ts). */
export function hookScript(o: HookOptions): string {
  return `(() => {
    globalThis.sottoPlain = [];
    const o = ${JSON.stringify(o)};
    const options = {
      enabled: o.enabled !== false,
      passthroughForTest: o.passthroughForTest === true,
      dropKeyMessagesForTest: o.dropKeyMessagesForTest === true,
      skipSpeakerVerificationForTest: o.skipSpeakerVerificationForTest === true,
      forgeryForTest: o.forgeryForTest === true,
      retainKeysForTest: o.retainKeysForTest === true,
    };
    if (o.capture) options.capturePlaintext = (f) => {
      if (globalThis.sottoPlain.length < 4000) globalThis.sottoPlain.push(Array.from(f));
    };
    globalThis.sottoE2eeTest = { options, onSession: (s) => { globalThis.sottoSession = s; } };
  })();`;
}

export type Stats = (E2eeStats & { joinStartedAt: number }) | null;

export function e2eeStats(user: User): Promise<Stats> {
  return user.page.evaluate(
    () =>
      (
        globalThis as unknown as { sottoSession?: { e2eeStats(): Promise<Stats> } }
      ).sottoSession?.e2eeStats() ?? null,
  );
}

// ---- the media-node canary ----

/** Length of the byte windows the canary looks for. */
export const CANARY_WINDOW = 8;

/**
 * How many CANARY_WINDOW-byte windows of the plaintext `frames` occur in the `payloads` the
 * media node forwarded (0: no plaintext fragment reached it).
 */
export function leakedWindows(frames: ArrayLike<number>[], payloads: Buffer[]): number {
  const seen = new Set<string>();
  for (const p of payloads)
    for (let i = 0; i + CANARY_WINDOW <= p.length; i++) seen.add(p.toString('hex', i, i + CANARY_WINDOW));
  let leaks = 0;
  for (const f of frames) {
    const b = Buffer.from(Array.from(f));
    for (let i = 0; i + CANARY_WINDOW <= b.length; i++)
      if (seen.has(b.toString('hex', i, i + CANARY_WINDOW))) leaks++;
  }
  return leaks;
}
