// Debian's headless Chromium driven by playwright-core, with a fake microphone playing a sine
// tone (the capture file is a process-wide flag, hence one browser per tone). Shared by the
// media contract tests and the web app's end-to-end tests.
import { execFile } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';

const CHROMIUM = '/usr/bin/chromium';
/** The flags from FACTS.md ("Headless Chromium for real-browser tests"). */
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--allow-loopback-in-peer-connection',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];
/** What playwright-core needs to talk to a browser it launched with none of its own default flags. */
const PLAYWRIGHT_FLAGS = ['--remote-debugging-pipe', '--no-startup-window'];
const TONE_SECONDS = 60;
export const BROWSER_TIMEOUT_MS = 30_000;

const run = promisify(execFile);

/**
 * Launches Chromium with a fresh profile under `dir`. With `toneHz`, its fake microphone plays
 * that sine tone (looped) — with `gated`, in half-second bursts with half-second silences, like
 * speech with pauses; without, Chromium's own beep.
 */
export async function launchChromium(dir: string, toneHz?: number, gated = false): Promise<Browser> {
  const profile = await mkdtemp(join(dir, 'profile-'));
  const args = [...CHROMIUM_FLAGS, ...PLAYWRIGHT_FLAGS, `--user-data-dir=${profile}`];
  if (toneHz !== undefined) {
    const wav = join(dir, `tone-${toneHz}${gated ? '-gated' : ''}.wav`);
    const synth = gated
      ? ['synth', '0.5', 'sine', String(toneHz), 'pad', '0', '0.5', 'repeat', String(TONE_SECONDS - 1)]
      : ['synth', String(TONE_SECONDS), 'sine', String(toneHz)];
    await run('sox', ['-n', '-r', '48000', '-c', '1', wav, ...synth]);
    // Chromium loops the file (a "%noloop" suffix would stop that).
    args.push(`--use-file-for-fake-audio-capture=${wav}`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    args,
    timeout: BROWSER_TIMEOUT_MS,
  });
}
