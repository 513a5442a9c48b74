// Helpers for the E2EE bot tests: a SottoApi signed in through the dev sign-in, and an E2eeBot
// wired to the media tests' node-datachannel LiveKit participant (data packets both ways, audio
// RTP payloads in — opened with the bot's SFrame code — and, on stage, out).
import assert from 'node:assert/strict';
import { SottoApi } from '@sotto/client';
import { type E2eeBot, SPEAKER_SIG_TOPIC } from '@sotto/client/bot';
import { Bot } from '../../../media/test/bot/bot.ts';
import { parseRtp } from '../../../media/test/bot/rtp.ts';

/** A SottoApi signed in as `username` through the dev sign-in (session cookie kept by hand). */
export async function devApi(baseUrl: string, username: string, displayName?: string): Promise<SottoApi> {
  const res = await fetch(`${baseUrl}/api/auth/dev`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: baseUrl },
    body: JSON.stringify({ username, ...(displayName ? { displayName } : {}) }),
  });
  assert.equal(res.status, 200, await res.text());
  const cookie = res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .join('; ');
  assert.ok(cookie, 'a session cookie');
  return new SottoApi({
    baseUrl,
    fetch: (input, init) => {
      const headers = new Headers(init?.headers);
      headers.set('cookie', cookie);
      headers.set('origin', baseUrl);
      return fetch(input, { ...init, headers });
    },
  });
}

export async function until(ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok() && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
}

export interface BotMediaOptions {
  /** Receive-only audio sections to offer (default 2). */
  slots?: number;
  /** Each audio payload the bot could open (played), with what it decrypted to. */
  onAudio?: (payload: Uint8Array, opus: Uint8Array) => void;
  /**
   * Test-only: while this returns true the bot's speaker signatures are not published (a bot
   * that does not sign, or a node that drops its signatures).
   */
  dropSignatures?: () => boolean;
}

export interface BotMedia {
  media: Bot;
  /** Resolves once the queued received payloads have been processed. */
  drained(): Promise<void>;
  close(): void;
}

/**
 * Connects `bot` to the media node as a node-datachannel participant and starts its key
 * protocol. The microphone is published when the bot is (or comes) on stage.
 */
export async function connectBotMedia(bot: E2eeBot, o: BotMediaOptions = {}): Promise<BotMedia> {
  const media = await Bot.join(bot.mediaUrl, bot.mediaToken, {
    slots: o.slots ?? 2,
    publish: bot.onStage,
  });
  media.onData((packet) => {
    if (packet.value.case !== 'user') return;
    const user = packet.value.value;
    bot.receiveData(user.payload, packet.participantIdentity || user.participantIdentity, user.topic);
  });
  let queue = Promise.resolve();
  media.onRtp((rtp) => {
    const payload = Uint8Array.from(parseRtp(rtp).payload);
    // in order, one at a time, as the browser worker does
    queue = queue.then(async () => {
      const out = await bot.decrypt(payload);
      if (out) o.onAudio?.(payload, out);
    });
  });
  bot.onStageChange = (onStage) => {
    if (onStage) void media.publishMicrophone().catch((err: unknown) => console.log(`# publish: ${err}`));
  };
  bot.start({
    publish: (payload, to, topic) => {
      if (topic === SPEAKER_SIG_TOPIC && o.dropSignatures?.()) return;
      media.sendData(payload, { reliable: true, topic, destinationIdentities: to });
    },
    sendAudio: (payload) => media.trackSid !== undefined && media.sendRtp(payload),
  });
  return { media, drained: () => queue, close: () => media.close() };
}
