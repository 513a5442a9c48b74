// End-to-end encrypted audio in real Chromium, through the real media node (run in this process
// so a test-only tap sees every RTP payload it forwards):
//  - a speaker is heard by two listeners with E2EE on (the default), and we print the time from
//    joining to the first decrypted frame, against a baseline without key delivery;
//  - a listener that never gets keys hears silence, not noise;
//  - the media-node canary: no 8-byte window of any plaintext Opus frame the speaker produced
//    appears in any payload the node forwarded — and the same check finds the plaintext when
//    encryption is switched off (negative control, so the assertion can fail).
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { E2eeStats } from '@sotto/client';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type RunningServer, startServer } from './server.ts';
import { Harness, listenScript, SHOTS, type User } from './support.ts';

const SPEAKER_HZ = 440;
const LISTENER_HZ = 660;
const WINDOW = 8;

interface HookOptions {
  enabled?: boolean;
  capture?: boolean;
  passthroughForTest?: boolean;
  dropKeyMessagesForTest?: boolean;
}

/** The page-side test hook the web app reads (src/e2ee-test-hook.ts). */
function hookScript(o: HookOptions): string {
  return `(() => {
    globalThis.sottoPlain = [];
    const o = ${JSON.stringify(o)};
    const options = {
      enabled: o.enabled !== false,
      passthroughForTest: o.passthroughForTest === true,
      dropKeyMessagesForTest: o.dropKeyMessagesForTest === true,
    };
    if (o.capture) options.capturePlaintext = (f) => {
      if (globalThis.sottoPlain.length < 4000) globalThis.sottoPlain.push(Array.from(f));
    };
    globalThis.sottoE2eeTest = { options, onSession: (s) => { globalThis.sottoSession = s; } };
  })();`;
}

type Stats = (E2eeStats & { joinStartedAt: number }) | null;

function e2eeStats(user: User): Promise<Stats> {
  return user.page.evaluate(
    () =>
      (
        globalThis as unknown as { sottoSession?: { e2eeStats(): Promise<Stats> } }
      ).sottoSession?.e2eeStats() ?? null,
  );
}

function plaintextFrames(user: User): Promise<number[][]> {
  return user.page.evaluate(() => (globalThis as unknown as { sottoPlain: number[][] }).sottoPlain);
}

function loudest(user: User, ms: number): Promise<number> {
  return user.page.evaluate(
    (t) =>
      (globalThis as unknown as { sottoTest: { loudest(ms: number): Promise<number> } }).sottoTest.loudest(t),
    ms,
  );
}

/** Every 8-byte window of the plaintext frames that occurs in a forwarded payload. */
function leakedWindows(frames: number[][], payloads: Buffer[]): number {
  const seen = new Set<string>();
  for (const p of payloads)
    for (let i = 0; i + WINDOW <= p.length; i++) seen.add(p.toString('hex', i, i + WINDOW));
  let leaks = 0;
  for (const f of frames) {
    const b = Buffer.from(f);
    for (let i = 0; i + WINDOW <= b.length; i++) if (seen.has(b.toString('hex', i, i + WINDOW))) leaks++;
  }
  return leaks;
}

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe('end-to-end encrypted audio (Chromium, real media node with a payload tap)', {
  timeout: 300_000,
}, () => {
  let server: RunningServer;
  let dir: string;
  let h: Harness;
  const browsers: Browser[] = [];
  let speakerBrowser: Browser;
  let listenerBrowser: Browser;
  /** What the media node forwarded: room (media id) → payloads. */
  const forwarded = new Map<string, Buffer[]>();
  let roomPath = '';
  let ada: User;
  let bob: User;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-e2ee-browsers-'));
    server = await startServer({
      payloadTap: (room, _track, payload) => {
        const list = forwarded.get(room) ?? [];
        if (list.length < 20_000) list.push(Buffer.from(payload));
        forwarded.set(room, list);
      },
    });
    h = new Harness(server, await listenScript());
    speakerBrowser = await launchChromium(dir, SPEAKER_HZ);
    listenerBrowser = await launchChromium(dir, LISTENER_HZ);
    browsers.push(speakerBrowser, listenerBrowser);
    await mkdir(SHOTS, { recursive: true });
  });

  after(async () => {
    await Promise.allSettled(browsers.map((b) => b.close()));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function openRoom(user: User, topic: string): Promise<string> {
    await user.page.getByLabel('Topic').fill(topic);
    await user.page.getByRole('button', { name: 'Start a room' }).click();
    await user.page.waitForURL(/\/room\/[^/]+$/);
    await h.member(user, user, 'stage').waitFor();
    return new URL(user.page.url()).pathname;
  }

  async function listener(name: string, o: HookOptions, path: string): Promise<User> {
    const u = await h.newUser(listenerBrowser, name, name.replace('_', ' '), hookScript(o));
    await h.signUp(u, await h.invite(ada));
    await u.page.goto(`${server.url}${path}`);
    await h.member(u, u, 'audience').waitFor();
    return u;
  }

  it('a speaker is heard by two listeners with E2EE on; join-to-first-decrypted-audio', async () => {
    try {
      ada = await h.newUser(speakerBrowser, 'ada_e2ee', 'Ada', hookScript({ capture: true }));
      await h.signUp(ada, server.firstInvite);
      roomPath = await openRoom(ada, 'Encrypted talk');
      bob = await listener('bob_e2ee', {}, roomPath);
      const cleo = await listener('cleo_e2ee', {}, roomPath);
      for (const u of [bob, cleo]) {
        const heard = await h.detectTone(u, SPEAKER_HZ);
        assert.ok(heard.found, `${u.username} did not hear the speaker: ${JSON.stringify(heard)}`);
      }
      const speaker = await e2eeStats(ada);
      assert.ok(speaker, 'the speaker has E2EE on');
      assert.ok(speaker.isKeyHolder, 'the moderator holds the room key');
      assert.ok(
        speaker.encrypted > 50,
        `speaker: ${JSON.stringify(speaker)} bob: ${JSON.stringify(await e2eeStats(bob))}`,
      );
      for (const u of [bob, cleo]) {
        const s = await until(
          () => e2eeStats(u),
          (v) => (v?.decrypted ?? 0) > 50,
        );
        assert.ok(s && s.decrypted > 50, `${u.username} decrypted: ${JSON.stringify(s)}`);
        assert.equal(s.generation, speaker.generation);
      }
      const s = await e2eeStats(bob);
      if (s?.firstDecryptAt) {
        console.log(
          `# join → first decrypted frame (E2EE on, listener): ${Math.round(s.firstDecryptAt - s.joinStartedAt)} ms; ` +
            `key held after ${Math.round((s.firstKeyAt ?? 0) - s.joinStartedAt)} ms`,
        );
      }
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('a listener without keys hears silence, not noise', async () => {
    try {
      const dora = await listener('dora_nokeys', { dropKeyMessagesForTest: true }, roomPath);
      await dora.page.waitForTimeout(2000);
      const level = await loudest(dora, 3000);
      const stats = await e2eeStats(dora);
      console.log(
        `# listener without keys: loudest ${level.toFixed(1)} dBFS, ${JSON.stringify(stats?.dropped)}`,
      );
      assert.ok(level < -70, `a listener without keys heard ${level} dBFS`);
      assert.ok((stats?.dropped.unknown_key ?? 0) > 20, 'frames arrived and were dropped');
      // control: the keyed listener hears the speaker at the same time
      assert.ok((await h.detectTone(bob, SPEAKER_HZ)).found);
      // control: without the transform, the ciphertext reaches the decoder (what E2EE must avoid)
      const eve = await listener('eve_plain', { enabled: false }, roomPath);
      await eve.page.waitForTimeout(2000);
      console.log(
        `# listener without E2EE given ciphertext: loudest ${(await loudest(eve, 3000)).toFixed(1)} dBFS`,
      );
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('media-node canary: no plaintext Opus frame reaches the media node', async () => {
    try {
      const frames = await until(
        () => plaintextFrames(ada),
        (f) => f.length > 300,
      );
      const rooms = [...forwarded.keys()];
      assert.equal(rooms.length, 1);
      const payloads = forwarded.get(rooms[0] ?? '') ?? [];
      const big = frames.filter((f) => f.length >= WINDOW);
      assert.ok(big.length > 200, `captured ${big.length} plaintext frames of ≥ ${WINDOW} bytes`);
      assert.ok(payloads.length > 200, `tapped ${payloads.length} payloads`);
      const leaks = leakedWindows(big, payloads);
      console.log(
        `# canary (E2EE on): ${big.length} plaintext frames vs ${payloads.length} forwarded payloads: ${leaks} shared ${WINDOW}-byte windows`,
      );
      assert.equal(leaks, 0);
    } catch (err) {
      await h.failWithLogs(err);
    }
  });

  it('negative control: with encryption off the same canary finds the plaintext', async () => {
    try {
      const before = new Set(forwarded.keys());
      const fred = await h.newUser(
        speakerBrowser,
        'fred_clear',
        'Fred',
        hookScript({ capture: true, passthroughForTest: true }),
      );
      await h.signUp(fred, await h.invite(ada));
      const path = await openRoom(fred, 'Clear talk');
      const gus = await h.newUser(
        listenerBrowser,
        'gus_clear',
        'Gus',
        hookScript({ passthroughForTest: true }),
      );
      await h.signUp(gus, await h.invite(fred));
      await gus.page.goto(`${server.url}${path}`);
      await h.member(gus, gus, 'audience').waitFor();
      assert.ok((await h.detectTone(gus, SPEAKER_HZ)).found, 'the clear room works');
      const base = await e2eeStats(gus);
      if (base?.firstDecryptAt) {
        console.log(
          `# join → first frame (baseline, no key delivery): ${Math.round(base.firstDecryptAt - base.joinStartedAt)} ms`,
        );
      }
      const frames = await until(
        () => plaintextFrames(fred),
        (f) => f.length > 300,
      );
      const room = [...forwarded.keys()].find((r) => !before.has(r));
      assert.ok(room, 'the media node forwarded the clear room');
      const big = frames.filter((f) => f.length >= WINDOW);
      const leaks = leakedWindows(big, forwarded.get(room) ?? []);
      console.log(`# canary (E2EE off): ${leaks} shared ${WINDOW}-byte windows`);
      assert.ok(leaks > big.length, 'the canary sees plaintext when it is there');
    } catch (err) {
      await h.failWithLogs(err);
    }
  });
});
