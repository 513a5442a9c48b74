// Speaking indicators in a hardened room ("Hide when people talk"), in real Chromium through
// `sotto start`: the media node negotiates no audio-level extension and the speaker sends
// constant-bitrate Opus, so the node cannot say who speaks; the stage tiles still light up because
// each speaker sends its own level as an encrypted data packet, four times a second whether it
// speaks or not. The speaker's fake microphone plays a tone in half-second bursts: the listener's
// tile for her must follow them (on, off, on …), and the level messages must arrive at the same
// rate in speech and in silence.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type RunningServer, startServer } from './server.ts';
import { e2eeStats, Harness, hookScript, listenScript, SHOTS, type User } from './support.ts';

const SPEAKER_HZ = 440;

/** Samples `data-speaking` of `who`'s stage tile on `user`'s page every 100 ms for `ms`. */
async function speakingTimeline(h: Harness, user: User, who: User, ms: number): Promise<boolean[]> {
  const tile = h.member(user, who, 'stage');
  const out: boolean[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    out.push((await tile.getAttribute('data-speaking')) === 'true');
    await new Promise((r) => setTimeout(r, 100));
  }
  return out;
}

function onsets(timeline: boolean[]): number {
  let n = 0;
  for (let i = 1; i < timeline.length; i++) if (timeline[i] && !timeline[i - 1]) n++;
  return n;
}

describe('hardened room: speaking indicators from encrypted levels (Chromium)', { timeout: 180_000 }, () => {
  let server: RunningServer;
  let dir: string;
  let h: Harness;
  const browsers: Browser[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-hardened-'));
    server = await startServer();
    h = new Harness(server, await listenScript());
    browsers.push(await launchChromium(dir, SPEAKER_HZ, true), await launchChromium(dir, 660));
    await mkdir(SHOTS, { recursive: true });
  });

  after(async () => {
    await Promise.allSettled(browsers.map((b) => b.close()));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the listener sees the speaker light up with her bursts, from level messages at a fixed rate', async () => {
    try {
      const [speakerBrowser, listenerBrowser] = browsers as [Browser, Browser];
      const ada = await h.newUser(speakerBrowser, 'ada_hard', 'Ada', hookScript({}));
      await h.signUp(ada, server.firstInvite);
      await ada.page.getByLabel('Topic').fill('Quiet about talking');
      await ada.page.getByLabel('Hide when people talk').check();
      await ada.page.getByRole('button', { name: 'Start a room' }).click();
      await ada.page.waitForURL(/\/room\/[^/]+$/);
      const path = new URL(ada.page.url()).pathname;
      const bob = await h.newUser(listenerBrowser, 'bob_hard', 'Bob', hookScript({}));
      await h.signUp(bob, await h.invite(ada));
      await bob.page.goto(`${server.url}${path}`);
      await h.member(bob, bob, 'audience').waitFor();
      const heard = await h.detectTone(bob, SPEAKER_HZ);
      assert.ok(heard.found, `bob did not hear ada: ${JSON.stringify(heard)}`);

      const before = { ada: await e2eeStats(ada), bob: await e2eeStats(bob) };
      const seenByBob = await speakingTimeline(h, bob, ada, 5_000);
      const after = { ada: await e2eeStats(ada), bob: await e2eeStats(bob) };
      const seenByAda = await speakingTimeline(h, ada, ada, 3_000);
      await bob.page.screenshot({ path: join(SHOTS, 'hardened-listener.png') });
      const share = seenByBob.filter(Boolean).length / seenByBob.length;
      console.log(
        `# hardened room: ada speaking in ${Math.round(share * 100)} % of bob's samples, ${onsets(seenByBob)} onsets in 5 s; ` +
          `levels sent ${(after.ada?.levels.sent ?? 0) - (before.ada?.levels.sent ?? 0)}, ` +
          `received ${(after.bob?.levels.received ?? 0) - (before.bob?.levels.received ?? 0)}, rejected ${JSON.stringify(after.bob?.levels.rejected)}`,
      );
      // the bursts (0.5 s on, 0.5 s off) show as several separate onsets, neither always on nor off
      assert.ok(onsets(seenByBob) >= 2, `bob's view of ada: ${seenByBob.map(Number).join('')}`);
      assert.ok(share > 0.2 && share < 0.95, `bob's view of ada: ${seenByBob.map(Number).join('')}`);
      assert.ok(
        onsets(seenByAda) >= 1 && seenByAda.includes(false),
        `ada's own tile: ${seenByAda.map(Number).join('')}`,
      );
      // a fixed rate (4/s) whatever she says: ~20 in 5 s, speech or silence
      const sent = (after.ada?.levels.sent ?? 0) - (before.ada?.levels.sent ?? 0);
      const received = (after.bob?.levels.received ?? 0) - (before.bob?.levels.received ?? 0);
      assert.ok(sent >= 17 && sent <= 24, `sent ${sent}`);
      assert.ok(received >= 15 && received <= 24, `received ${received}`);
      // in the measured window, that is: a level that overtakes the listener's keys while it joins
      // is dropped as `no_roster` (fail closed) and shows only in the log line above
      const prior: Record<string, number | undefined> = before.bob?.levels.rejected ?? {};
      const rejectedInWindow = Object.entries(after.bob?.levels.rejected ?? {}).filter(
        ([why, n]) => (n ?? 0) > (prior[why] ?? 0),
      );
      assert.deepEqual(rejectedInWindow, [], 'nothing rejected');
      assert.equal(after.bob?.levels.sent, 0, 'a listener sends no levels');
    } catch (err) {
      await h.failWithLogs(err);
    }
  });
});
