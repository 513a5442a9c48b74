// A Node bot that SPEAKS end-to-end encrypted audio (@sotto/client/bot: PCM → Opus, SFrame over
// the whole frame, speaker signatures, the stage MLS group), heard by people in real Chromium
// through the real media node and app server (run in this process, so a test-only tap sees every
// payload the node forwards):
//  1. a bot creates a room and moderates it: it holds the room key (it creates the stage MLS
//     group) and speaks a 440 Hz tone; a Chromium listener, speaker verification on, hears it and
//     verifies the frames as the bot's; the media-node canary finds no 8-byte window of the bot's
//     plaintext Opus frames in what the node forwarded — negative control: the same frames sent
//     without encryption through the same track are found, and the listener plays none of them;
//  2. a listener bot raises its hand, a Chromium moderator invites it, it accepts through the app
//     API, joins the stage MLS group by KeyPackage and Welcome (the moderator's security code) and
//     speaks an 880 Hz tone under its own KID leaf, heard by a Chromium listener and by the
//     moderator — negative control: with its signatures withheld the verifying listener mutes it
//     (while it still plays the moderator); moved back to the audience it stops sending, leaves
//     the MLS group (a new epoch) and, a listener again, gets the new key and hears the moderator.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type BotSpeech, E2eeBot, sineTone } from '@sotto/client/bot';
import { decodeHeader, decodeKid } from '@sotto/e2ee';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type BotMedia, connectBotMedia, devApi, until } from './bot-support.ts';
import { type RunningServer, startServer } from './server.ts';
import {
  CANARY_WINDOW,
  e2eeStats,
  Harness,
  hookScript,
  leakedWindows,
  listenScript,
  SHOTS,
  type Stats,
  type User,
} from './support.ts';

/** The bots' tones, and the Chromium moderator's fake microphone. */
const HOST_HZ = 440;
const GUEST_HZ = 880;
const MODERATOR_HZ = 660;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function statsUntil(user: User, ok: (s: NonNullable<Stats>) => boolean, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const s = await e2eeStats(user);
    if ((s && ok(s)) || Date.now() > end) return s;
    await sleep(250);
  }
}

const unsigned = (s: Stats) => s?.dropped.unsigned ?? 0;

describe('a Node bot speaks in an end-to-end encrypted room (Chromium listeners)', {
  timeout: 300_000,
}, () => {
  let server: RunningServer;
  let dir: string;
  let h: Harness;
  let browser: Browser;
  /** What the media node forwarded, by track sid. */
  const forwarded = new Map<string, Buffer[]>();
  const tapped = (track: string | undefined) => (track ? (forwarded.get(track) ?? []) : []);
  const bots: { bot: E2eeBot; media: BotMedia | null; speech: BotSpeech | null; logs: string[] }[] = [];
  let lena: User;
  let hostTrack: string | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-bot-speaker-'));
    server = await startServer({
      payloadTap: (_room, track, payload) => {
        const list = forwarded.get(track) ?? [];
        if (list.length < 50_000) list.push(Buffer.from(payload));
        forwarded.set(track, list);
      },
    });
    h = new Harness(server, await listenScript());
    browser = await launchChromium(dir, MODERATOR_HZ);
    await mkdir(SHOTS, { recursive: true });
  });

  after(async () => {
    for (const b of bots) {
      b.speech?.stop();
      b.media?.close();
      await b.bot.close();
    }
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Rethrows with the bots' logs, the pages' console tails and screenshots. */
  async function fail(err: unknown): Promise<never> {
    const logs = bots.map((b) => `--- bot ${b.bot.handle}\n${b.logs.slice(-30).join('\n')}`).join('\n');
    return h.failWithLogs(new Error(`${(err as Error).message}\n${logs}`));
  }

  it('a bot moderator speaks a 440 Hz tone: a verifying Chromium listener hears it; the node sees no plaintext', async () => {
    try {
      // the bot signs in, creates an (E2EE, as every) room and joins it as its moderator
      const logs: string[] = [];
      const api = await devApi(server.url, 'robo_host', 'Robo Host');
      const host = await E2eeBot.createRoom(
        api,
        { topic: 'A bot on stage' },
        { pollMs: 500, log: (m) => logs.push(m) },
      );
      const entry: (typeof bots)[number] = { bot: host, media: null, speech: null, logs };
      bots.push(entry);
      assert.equal(host.state.me?.role, 'moderator');
      const media = await connectBotMedia(host);
      entry.media = media;
      const track = media.media.trackSid;
      assert.match(track ?? '', /^TR_/, 'the moderator bot published its microphone');
      hostTrack = track;
      const plain: Uint8Array[] = [];
      const speech = await host.speak(sineTone(HOST_HZ), {
        onFrame: (f) => {
          if (plain.length < 5000) plain.push(f);
        },
      });
      entry.speech = speech;
      await until(() => host.stats.sending.sent > 25, 20_000);
      assert.ok(
        host.stats.isKeyHolder && host.stats.inStageGroup,
        `key holder: ${JSON.stringify(host.stats)}`,
      );

      // a person signs up in Chromium, opens the room and listens (speaker verification on)
      lena = await h.newUser(browser, 'lena_listens', 'Lena', hookScript({}));
      await h.signUp(lena, server.firstInvite);
      await lena.page.goto(`${server.url}/room/${encodeURIComponent(host.roomId)}`);
      await h.member(lena, lena, 'audience').waitFor();
      const heard = await h.detectTone(lena, HOST_HZ, 20_000);
      assert.ok(heard.found, `the listener did not hear the bot: ${JSON.stringify(heard)}`);
      const s1 = await statsUntil(lena, (s) => s.speakers.verified > 50);
      await sleep(3000);
      const s2 = await e2eeStats(lena);
      assert.ok(s1 && s2);
      const played = s2.decrypted - s1.decrypted - (unsigned(s2) - unsigned(s1));
      console.log(
        `# bot moderator → Chromium listener: ${played} frames played in 3 s, ${s2.speakers.verified - s1.speakers.verified} verified; ` +
          `bot sent ${host.stats.sending.sent} frames, ${host.stats.sending.signatures} signatures; MLS ${host.stats.mlsTimings.map((t) => `${t.what} ${t.ms.toFixed(1)} ms`).join(', ')}`,
      );
      assert.ok(played > 100, `the listener played the bot's frames: ${JSON.stringify(s2)}`);
      assert.ok(unsigned(s2) - unsigned(s1) <= 2, `none muted as unsigned: ${JSON.stringify(s2.dropped)}`);
      assert.ok(s2.speakers.verified - s1.speakers.verified > 100, 'verified as signed by the stage member');
      assert.equal(s2.inStageGroup, false, 'the listener stays out of MLS');
      assert.equal(s2.generation, host.stats.generation, 'the listener has the bot’s epoch key (HPKE/KEK)');

      // on the wire: SFrame under the bot's generation and its own leaf, never the Opus frame
      const leaf = host.stats.leaf;
      assert.ok(leaf !== null, 'the bot has a leaf in its stage group');
      const payloads = tapped(track);
      assert.ok(payloads.length > 200, `tapped ${payloads.length} payloads`);
      for (const p of payloads.slice(-100)) {
        const kid = decodeKid(decodeHeader(p).kid);
        assert.equal(kid.leaf, leaf);
        assert.equal(kid.generation, host.stats.generation);
      }
      const big = plain.filter((f) => f.length >= CANARY_WINDOW);
      assert.ok(big.length > 200, `captured ${big.length} plaintext frames`);
      const leaks = leakedWindows(big, payloads);
      console.log(
        `# canary (bot, E2EE on): ${big.length} plaintext Opus frames vs ${payloads.length} forwarded payloads: ${leaks} shared ${CANARY_WINDOW}-byte windows`,
      );
      assert.equal(leaks, 0);

      // negative control: the same Opus frames sent without encryption through the same track
      speech.stop();
      await speech.finished;
      await sleep(500);
      const mark = payloads.length;
      const before = await e2eeStats(lena);
      const clear = plain.slice(-150);
      for (const f of clear) {
        media.media.sendRtp(f);
        await sleep(20);
      }
      await sleep(1000);
      const afterClear = await e2eeStats(lena);
      const clearLeaks = leakedWindows(clear, tapped(track).slice(mark));
      const windows = clear.reduce((n, f) => n + Math.max(0, f.length - CANARY_WINDOW + 1), 0);
      const dropped = (s: Stats) => Object.values(s?.dropped ?? {}).reduce((a, b) => a + (b ?? 0), 0);
      console.log(
        `# canary (bot, E2EE off): ${clearLeaks} of ${windows} windows found; the listener decrypted ` +
          `${(afterClear?.decrypted ?? 0) - (before?.decrypted ?? 0)}, dropped ${dropped(afterClear) - dropped(before)}`,
      );
      assert.ok(clearLeaks >= windows, 'the canary finds the plaintext when it is there');
      assert.equal(afterClear?.decrypted, before?.decrypted, 'the listener plays none of the clear frames');
      assert.ok(dropped(afterClear) - dropped(before) >= clear.length * 0.9, 'it drops them');
    } catch (err) {
      await fail(err);
    }
  });

  it('a listener bot invited on stage by a Chromium moderator joins the MLS group, is heard under its own leaf, is muted unsigned, and leaves the group back in the audience', async () => {
    try {
      // a Chromium moderator (fake microphone: 660 Hz) opens a room; the listener follows
      const ada = await h.newUser(browser, 'ada_moderates', 'Ada', hookScript({}));
      await h.signUp(ada, await h.invite(lena));
      await ada.page.getByLabel('Topic').fill('Ada and a bot');
      await ada.page.getByRole('button', { name: 'Start a room' }).click();
      await ada.page.waitForURL(/\/room\/[^/]+$/);
      await h.member(ada, ada, 'stage').waitFor();
      const roomPath = new URL(ada.page.url()).pathname;
      const roomId = decodeURIComponent(roomPath.split('/').pop() ?? '');
      const otto = await h.newUser(browser, 'otto_listens', 'Otto', hookScript({}));
      await h.signUp(otto, await h.invite(lena));
      await otto.page.goto(`${server.url}${roomPath}`);
      await h.member(otto, otto, 'audience').waitFor();

      // the bot joins as a listener and is ready to speak (it sends nothing off stage)
      const logs: string[] = [];
      const api = await devApi(server.url, 'robo_guest', 'Robo Guest');
      const guest = await E2eeBot.joinRoom(api, roomId, { pollMs: 500, log: (m) => logs.push(m) });
      const entry: (typeof bots)[number] = { bot: guest, media: null, speech: null, logs };
      bots.push(entry);
      assert.equal(guest.state.me?.role, 'listener');
      let withhold = false;
      let heardByGuest = 0;
      const media = await connectBotMedia(guest, {
        dropSignatures: () => withhold,
        onAudio: () => heardByGuest++,
      });
      entry.media = media;
      const speech = await guest.speak(sineTone(GUEST_HZ));
      entry.speech = speech;
      await until(() => guest.stats.generation !== null && heardByGuest > 25, 20_000);
      assert.ok(heardByGuest > 25, `the listener bot hears the moderator: ${JSON.stringify(guest.stats)}`);
      assert.equal(guest.stats.sending.sent, 0, 'a listener sends no audio');
      assert.ok(speech.stats.idle > 0, 'its speech waits for the stage');

      // hand raised (app API) → invited by the moderator (Chromium UI) → accepted (app API)
      await guest.raiseHand();
      const queued = ada.page.locator('[data-testid="hand-queue-member"][data-username="robo_guest"]');
      await queued.getByRole('button', { name: 'Invite to speak' }).click();
      await until(() => guest.state.me?.invitedToSpeak === true, 10_000);
      assert.equal(guest.state.me?.invitedToSpeak, true, 'the bot sees the invitation');
      await guest.answerInvitation(true);
      assert.equal(guest.onStage, true);
      await until(() => guest.stats.inStageGroup && guest.stats.sending.sent > 50, 30_000);
      const gs = guest.stats;
      assert.ok(gs.inStageGroup, `the bot joined the stage group by Welcome: ${JSON.stringify(gs)}`);
      assert.ok(
        gs.mlsTimings.some((t) => t.what.startsWith('join')),
        'by a Welcome',
      );
      assert.ok(gs.sending.sent > 50, `the bot speaks: ${JSON.stringify(gs.sending)}`);
      const as = await statsUntil(ada, (s) => s.generation === guest.stats.generation);
      assert.equal(as?.generation, guest.stats.generation, 'the moderator and the bot share the epoch');
      assert.match(gs.securityCode ?? '', /^\d{5}( \d{5}){5}$/);
      assert.equal(as?.securityCode, guest.stats.securityCode, 'the same room security code');
      // its own leaf in the KID, not the moderator's
      const guestTrack = media.media.trackSid;
      const guestLeaf = guest.stats.leaf;
      assert.ok(guestTrack && guestLeaf !== null);
      const leavesOf = (ps: Buffer[]) => new Set(ps.map((p) => decodeKid(decodeHeader(p).kid).leaf));
      assert.deepEqual([...leavesOf(tapped(guestTrack).slice(-50))], [guestLeaf]);
      const adaTrack = [...forwarded.keys()].find((t) => t !== guestTrack && t !== hostTrack);
      assert.ok(adaTrack, 'the moderator’s track');
      const adaLeaves = leavesOf(tapped(adaTrack).slice(-50));
      assert.ok(
        !adaLeaves.has(guestLeaf),
        `the moderator sends under leaf ${[...adaLeaves]}, the bot under ${guestLeaf}`,
      );

      // heard by the listener and by the moderator, verified
      for (const u of [otto, ada]) {
        const heard = await h.detectTone(u, GUEST_HZ, 20_000);
        assert.ok(heard.found, `${u.username} did not hear the bot: ${JSON.stringify(heard)}`);
      }
      const v1 = await e2eeStats(otto);
      await sleep(3000);
      const v2 = await e2eeStats(otto);
      assert.ok(unsigned(v2) - unsigned(v1) <= 2, `signed, not muted: ${JSON.stringify(v2?.dropped)}`);

      // negative control: the bot's signatures are withheld; after the grace the listener mutes
      // every frame of it, while the moderator's (signed) audio plays on
      withhold = true;
      await sleep(2500);
      const m1 = await e2eeStats(otto);
      const sent1 = guest.stats.sending.sent;
      await sleep(3000);
      const m2 = await e2eeStats(otto);
      const sentInWindow = guest.stats.sending.sent - sent1;
      const moderatorHeard = await h.detectTone(otto, MODERATOR_HZ, 5000);
      const muted = unsigned(m2) - unsigned(m1);
      console.log(
        `# unsigned bot: ${muted} of its ${sentInWindow} frames muted by the verifying listener; ` +
          `moderator still heard: ${moderatorHeard.found}; verified meanwhile ${(m2?.speakers.verified ?? 0) - (m1?.speakers.verified ?? 0)}`,
      );
      assert.ok(sentInWindow > 100, 'the bot kept speaking');
      assert.ok(muted >= sentInWindow * 0.9, `muted ${muted} of ${sentInWindow}`);
      assert.ok(moderatorHeard.found, 'control: the listener still plays the signed moderator');
      withhold = false;
      await sleep(4000);
      const r1 = await e2eeStats(otto);
      await sleep(2000);
      const r2 = await e2eeStats(otto);
      assert.ok(unsigned(r2) - unsigned(r1) <= 2, 'signed again, it plays again');

      // back to the audience (Chromium UI): the bot stops sending and leaves the MLS group
      const genOnStage = guest.stats.generation ?? 0;
      const tapMark = tapped(guestTrack).length;
      await ada.page.locator('[data-testid="stage-member"][data-username="robo_guest"]').click();
      await ada.page.getByRole('button', { name: 'Move to audience' }).click();
      await until(() => !guest.onStage, 10_000);
      assert.equal(guest.onStage, false);
      const sentAtMove = guest.stats.sending.sent;
      await until(() => !guest.stats.inStageGroup && (guest.stats.generation ?? 0) > genOnStage, 20_000);
      const back = guest.stats;
      assert.equal(back.inStageGroup, false, 'out of the stage group');
      assert.equal(back.leaf, null);
      assert.equal(back.securityCode, null);
      assert.ok(
        (back.generation ?? 0) > genOnStage,
        'the removal started a new epoch, and the bot has its key',
      );
      const as2 = await statsUntil(ada, (s) => s.generation === back.generation);
      assert.equal(as2?.generation, back.generation);
      const heard0 = heardByGuest;
      await until(() => heardByGuest > heard0 + 50, 10_000);
      assert.ok(heardByGuest > heard0 + 50, 'a listener again, it hears the moderator under the new key');
      await sleep(1000);
      assert.equal(guest.stats.sending.sent, sentAtMove, 'no audio sent from the audience');
      assert.ok(speech.speaking && speech.stats.idle > 0, 'the speech waits, idle');
      const forwardedAfterMove = tapped(guestTrack).length - tapMark;
      await sleep(1000);
      assert.equal(tapped(guestTrack).length - tapMark, forwardedAfterMove, 'nothing forwarded any more');
      const ls = await statsUntil(otto, (s) => s.generation === back.generation);
      assert.equal(ls?.generation, back.generation);
      assert.ok((await h.detectTone(otto, MODERATOR_HZ)).found, 'the listener hears the moderator');
      console.log(
        `# bot on stage by Welcome: ${gs.mlsTimings.map((t) => `${t.what} ${t.ms.toFixed(1)} ms`).join(', ')}; ` +
          `generation ${genOnStage} → ${back.generation} after the move to the audience`,
      );
    } catch (err) {
      await fail(err);
    }
  });
});
