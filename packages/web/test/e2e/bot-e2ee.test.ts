// A Node bot as an E2EE listener (@sotto/client/bot over the media tests' node-datachannel
// participant): a browser speaker (fake-mic tone) opens a room; the bot signs in through the app
// API, publishes its device, joins with it, gets the room key like a browser listener (key
// messages as data packets) and opens the speaker's RTP payloads with the same SFrame code as the
// browser's frame worker. What it decrypts must look like Opus (one TOC config throughout); what
// it received must not be that plaintext.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { E2eeBot } from '@sotto/client/bot';
import { decodeHeader } from '@sotto/e2ee';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../../../media/test/support/chromium.ts';
import { type BotMedia, connectBotMedia, devApi, until } from './bot-support.ts';
import { type RunningServer, startServer } from './server.ts';
import { Harness, listenScript, SHOTS, type User } from './support.ts';

const SPEAKER_HZ = 440;

/** Mode and frame duration of an Opus TOC byte's config (RFC 6716 Table 2). */
function opusKind(toc: number): string {
  const config = toc >> 3;
  if (config < 12) return `SILK ${[10, 20, 40, 60][config % 4]} ms`;
  if (config < 16) return `hybrid ${[10, 20][config % 2]} ms`;
  return `CELT ${[2.5, 5, 10, 20][config % 4]} ms`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

describe('a Node bot listens to an end-to-end encrypted room (Chromium speaker)', {
  timeout: 180_000,
}, () => {
  let server: RunningServer;
  let dir: string;
  let h: Harness;
  let browser: Browser;
  let ada: User;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sotto-bot-e2ee-'));
    server = await startServer();
    h = new Harness(server, await listenScript());
    browser = await launchChromium(dir, SPEAKER_HZ);
    await mkdir(SHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the bot gets the key as a listener and decrypts the speaker’s Opus frames', async () => {
    let bot: E2eeBot | null = null;
    let media: BotMedia | null = null;
    const logs: string[] = [];
    try {
      ada = await h.newUser(browser, 'ada_bot', 'Ada');
      await h.signUp(ada, server.firstInvite);
      await ada.page.getByLabel('Topic').fill('Talk with a bot');
      await ada.page.getByRole('button', { name: 'Start a room' }).click();
      await ada.page.waitForURL(/\/room\/[^/]+$/);
      await h.member(ada, ada, 'stage').waitFor();
      const roomId = decodeURIComponent(new URL(ada.page.url()).pathname.split('/').pop() ?? '');

      const api = await devApi(server.url, 'robo_listener');
      bot = await E2eeBot.joinRoom(api, roomId, { pollMs: 500, log: (m) => logs.push(m) });
      assert.equal(bot.join.state.me?.role, 'listener', 'the bot joined as a listener');
      const e2ee = bot;
      const raw: Uint8Array[] = [];
      const plain: Uint8Array[] = [];
      media = await connectBotMedia(bot, {
        onAudio: (payload, out) => {
          if (plain.length >= 500) return;
          raw.push(payload);
          plain.push(out);
        },
      });
      await until(() => plain.length > 50 && e2ee.stats.speakers.verified > 0, 30_000);
      await media.drained();
      const stats = bot.stats;
      assert.ok(plain.length > 50, `the bot decrypted ${plain.length} frames: ${JSON.stringify(stats)}`);
      assert.ok(stats.generation !== null, 'the bot holds a room key');
      assert.ok(stats.speakers.verified > 0, `speaker signatures checked: ${JSON.stringify(stats.speakers)}`);

      // Opus (RFC 6716 §3.1): non-empty, and every TOC byte's config names the same mode and
      // frame duration (the encoder may switch bandwidth, e.g. CELT WB ↔ FB, not mode or size)
      assert.ok(
        plain.every((f) => f.length > 0),
        'no empty frame',
      );
      const configs = new Map<number, number>();
      for (const f of plain) configs.set(f[0]! >> 3, (configs.get(f[0]! >> 3) ?? 0) + 1);
      const kinds = new Set(plain.map((f) => opusKind(f[0]!)));
      assert.equal(kinds.size, 1, `one Opus mode and frame duration: ${[...kinds].join(', ')}`);
      // what came over the wire is SFrame ciphertext, not the Opus frame
      for (const [i, p] of raw.entries()) {
        const f = plain[i]!;
        assert.ok(!equalBytes(p, f), `payload ${i} is the plaintext`);
        assert.ok(p.length > f.length, `payload ${i} carries an SFrame header and tag`);
        assert.ok(!equalBytes(p.subarray(p.length - f.length), f), `payload ${i} ends in the plaintext`);
        decodeHeader(p); // throws unless it is an SFrame header
      }
      console.log(
        `# bot: ${plain.length} frames decrypted (Opus ${[...kinds][0]}, configs ${JSON.stringify([...configs])}), generation ${stats.generation}`,
      );
    } catch (err) {
      await h.failWithLogs(new Error(`${(err as Error).message}\n--- bot\n${logs.slice(-40).join('\n')}`));
    } finally {
      media?.close();
      await bot?.close();
    }
  });
});
