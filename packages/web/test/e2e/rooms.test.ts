// The product working, as people use it: real Chromium (virtual passkey authenticators, fake
// microphones playing tones), the web app served by `sotto start --dev`, real WebRTC through
// the media node. A moderator opens a room; a second user signs up with an invite, finds the room
// in the hallway, raises a hand, is invited, accepts, and is heard; a third leaves quietly; a
// blocked user cannot get in.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type RunningServer, startServer } from './server.ts';
import { Harness, listenScript, SHOTS, type User } from './support.ts';

const MODERATOR_HZ = 440;
const SPEAKER_HZ = 660;
const TOPIC = 'Night owls talk shop';

describe('rooms app end to end (Chromium, passkeys, real audio)', { timeout: 300_000 }, () => {
  let server: RunningServer;
  let dir: string;
  let script: string;
  const browsers: Browser[] = [];
  let moderatorBrowser: Browser;
  let speakerBrowser: Browser;
  let roomPath = '';

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-e2e-browsers-'));
    script = await listenScript();
    server = await startServer();
    h = new Harness(server, script);
    moderatorBrowser = await launchChromium(dir, MODERATOR_HZ);
    speakerBrowser = await launchChromium(dir, SPEAKER_HZ);
    browsers.push(moderatorBrowser, speakerBrowser);
    await mkdir(SHOTS, { recursive: true });
  });

  after(async () => {
    await Promise.allSettled(browsers.map((b) => b.close()));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  let h: Harness;
  const newUser = (browser: Browser, username: string, displayName: string) =>
    h.newUser(browser, username, displayName);
  const signUp = (user: User, invite: string) => h.signUp(user, invite);
  const invite = (from: User) => h.invite(from);
  const member = (user: User, who: User, where: 'stage' | 'audience') => h.member(user, who, where);
  const detectTone = (user: User, hz: number) => h.detectTone(user, hz);
  const failWithLogs = (err: unknown) => h.failWithLogs(err);

  let ada: User;
  let grace: User;

  it('a moderator signs up with a passkey and opens a room', async () => {
    ada = await newUser(moderatorBrowser, 'ada_mod', 'Ada Lovelace');
    await signUp(ada, server.firstInvite);
    await ada.page.getByLabel('Topic').fill(TOPIC);
    await ada.page.getByRole('button', { name: 'Start a room' }).click();
    await ada.page.waitForURL(/\/room\/[^/]+$/);
    roomPath = new URL(ada.page.url()).pathname;
    await member(ada, ada, 'stage').waitFor();
    assert.equal(await member(ada, ada, 'stage').getAttribute('data-role'), 'moderator');
  });

  it('an invited user finds the room in the hallway, listens, raises a hand, is invited and is heard', async () => {
    try {
      grace = await newUser(speakerBrowser, 'grace_h', 'Grace Hopper');
      await signUp(grace, await invite(ada));
      const card = grace.page.getByRole('link', { name: TOPIC, exact: true });
      await card.waitFor();
      await grace.page.screenshot({ path: join(SHOTS, 'hallway.png') });
      await card.click();
      await member(grace, grace, 'audience').waitFor();
      // a listener hears the moderator
      const heardModerator = await detectTone(grace, MODERATOR_HZ);
      assert.ok(
        heardModerator.found,
        `listener did not hear the moderator: ${JSON.stringify(heardModerator)}`,
      );

      await grace.page.getByRole('button', { name: 'Raise hand' }).click();
      const queued = ada.page.locator('[data-testid="hand-queue-member"]', { hasText: grace.displayName });
      await queued.waitFor();
      await queued.getByRole('button', { name: 'Invite to speak' }).click();
      await grace.page.getByRole('button', { name: 'Accept', exact: true }).click();
      await member(ada, grace, 'stage').waitFor();
      const heardSpeaker = await detectTone(ada, SPEAKER_HZ);
      assert.ok(
        heardSpeaker.found,
        `moderator did not hear the new speaker: ${JSON.stringify(heardSpeaker)}`,
      );
      await ada.page.screenshot({ path: join(SHOTS, 'room.png') });
    } catch (err) {
      await failWithLogs(err);
    }
  });

  it('a listener who leaves quietly disappears without a chat line; leaving normally is announced', async () => {
    try {
      const carl = await newUser(moderatorBrowser, 'carl_q', 'Carl Quietly');
      await signUp(carl, await invite(ada));
      const chatLog = ada.page.getByRole('log', { name: 'Chat messages' });
      for (const quiet of [true, false]) {
        await carl.page.goto(`${server.url}${roomPath}`);
        await member(ada, carl, 'audience').waitFor();
        await carl.page.getByRole('button', { name: quiet ? 'Leave quietly' : 'Leave', exact: true }).click();
        await member(ada, carl, 'audience').waitFor({ state: 'detached' });
        if (quiet) {
          // the line, if any, is published with the roster change; give it time to arrive
          await ada.page.waitForTimeout(1000);
          const chat = (await chatLog.textContent()) ?? '';
          assert.ok(!chat.includes(carl.displayName), `the quiet leave was announced: ${chat}`);
        } else {
          // control: the same check sees a normal leave
          await chatLog.getByText(`${carl.displayName} left`).waitFor();
        }
      }
    } catch (err) {
      await failWithLogs(err);
    }
  });

  it('a user the moderator blocked does not see the room and cannot join it', async () => {
    try {
      const dora = await newUser(moderatorBrowser, 'dora_b', 'Dora Blocked');
      await signUp(dora, await invite(ada));
      // in a second tab, so the moderator stays in the room
      const tab = await ada.page.context().newPage();
      await tab.goto(`${server.url}/u/${dora.username}`);
      await tab.getByRole('button', { name: 'Block', exact: true }).click();
      await tab.getByRole('button', { name: 'Unblock', exact: true }).waitFor();
      await tab.close();
      await dora.page.goto(`${server.url}/`);
      await dora.page.getByRole('button', { name: 'Refresh' }).click();
      assert.equal(await dora.page.getByRole('link', { name: TOPIC, exact: true }).count(), 0);
      await dora.page.goto(`${server.url}${roomPath}`);
      await dora.page.getByRole('heading', { name: /You can.t join this room/ }).waitFor();
      // and nothing of her reached the room
      assert.equal(await member(ada, dora, 'audience').count(), 0);
    } catch (err) {
      await failWithLogs(err);
    }
  });
});
