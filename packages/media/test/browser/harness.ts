// Real-browser test harness: drives livekit-client in Debian's headless Chromium through
// playwright-core. One Chromium process per fake-microphone tone (the fake capture file is a
// process-wide flag), one browser context and page per participant.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { BROWSER_TIMEOUT_MS, launchChromium } from '../support/chromium.ts';
import { type PageServer, startPageServer } from './page-server.js';
import type {
  ConnectOptions,
  DataOptions,
  ListenOptions,
  RecordedEvent,
  RemoteParticipantInfo,
  RtcpStats,
  SottoPageApi,
  ToneResult,
} from './types.js';

export type { ConnectOptions, DataOptions, ListenOptions, RecordedEvent, RemoteParticipantInfo, ToneResult };

const TIMEOUT_MS = BROWSER_TIMEOUT_MS;
const LOG_TAIL = 40;

export interface ParticipantOptions {
  /** Frequency of the sine tone this participant's fake microphone plays; default: Chromium's own beep. */
  toneHz?: number;
  /** Play the tone in half-second bursts separated by silence (speech-like activity). */
  gated?: boolean;
  /** A label for logs and failure messages. */
  name?: string;
}

export interface Harness {
  newParticipant(opts?: ParticipantOptions): Promise<Participant>;
  /** Closes every browser (and with them every participant) and the page server. */
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'sotto-browser-'));
  try {
    return new BrowserHarness(dir, await startPageServer());
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

class BrowserHarness implements Harness {
  /** Browser per tone frequency ("default" for none), stored as promises so concurrent callers share one launch. */
  private readonly browsers = new Map<string, Promise<Browser>>();
  private count = 0;

  constructor(
    private readonly dir: string,
    private readonly server: PageServer,
  ) {}

  async newParticipant(opts: ParticipantOptions = {}): Promise<Participant> {
    const key = opts.toneHz === undefined ? 'default' : `${opts.toneHz}${opts.gated ? '-gated' : ''}`;
    let browser = this.browsers.get(key);
    if (!browser) {
      browser = this.launch(opts.toneHz, opts.gated);
      this.browsers.set(key, browser);
    }
    const context = await (await browser).newContext();
    return Participant.open(context, this.server.url, opts.name ?? `participant-${++this.count}`);
  }

  private launch(toneHz: number | undefined, gated = false): Promise<Browser> {
    return launchChromium(this.dir, toneHz, gated);
  }

  async close(): Promise<void> {
    const browsers = [...this.browsers.values()];
    this.browsers.clear();
    await Promise.allSettled(browsers.map(async (browser) => (await browser).close()));
    await this.server.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}

type Result<K extends keyof SottoPageApi> = Awaited<ReturnType<SottoPageApi[K]>>;

/** One livekit-client participant living in its own browser context and page. */
export class Participant {
  /** The page's console messages and uncaught errors, oldest first; print them when a test fails. */
  readonly logs: string[] = [];

  private constructor(
    readonly name: string,
    readonly page: Page,
    private readonly context: BrowserContext,
  ) {
    page.on('console', (msg) => this.logs.push(`[${msg.type()}] ${msg.text()}`));
    page.on('pageerror', (err) => this.logs.push(`[pageerror] ${err.message}`));
    page.on('crash', () => this.logs.push('[crash] page crashed'));
  }

  static async open(context: BrowserContext, url: string, name: string): Promise<Participant> {
    context.setDefaultTimeout(TIMEOUT_MS);
    const participant = new Participant(name, await context.newPage(), context);
    await participant.page.goto(url);
    await participant.page.waitForFunction(() => 'sotto' in globalThis);
    return participant;
  }

  /** Calls `window.sotto[method](...args)` in the page. */
  private call<K extends keyof SottoPageApi>(
    method: K,
    ...args: Parameters<SottoPageApi[K]>
  ): Promise<Result<K>> {
    return this.page.evaluate(
      ([m, a]) => {
        // The page's API, typed loosely here because this function runs in the page, not in Node.
        const api = (globalThis as unknown as { sotto: Record<string, (...args: unknown[]) => unknown> })
          .sotto;
        const method = api[m];
        if (!method) throw new Error(`window.sotto has no method ${m}`);
        return method.apply(api, a);
      },
      [method, args] as const,
    ) as Promise<Result<K>>;
  }

  connect(url: string, token: string, opts: ConnectOptions = {}): Promise<void> {
    return this.call('connect', url, token, opts);
  }

  /** Every room event recorded so far, oldest first. */
  events(): Promise<RecordedEvent[]> {
    return this.call('events');
  }

  /** Publishes the fake microphone; resolves with its track sid. */
  publishMic(): Promise<string> {
    return this.call('publishMic');
  }

  setMicMuted(muted: boolean): Promise<void> {
    return this.call('setMicMuted', muted);
  }

  /** Listens to subscribed remote audio (waiting for it to arrive) until `hz` is heard or the timeout (10 s). */
  detectTone(hz: number, opts: ListenOptions = {}): Promise<ToneResult> {
    return this.call('detectTone', hz, opts);
  }

  /** Loudest sample, in dBFS, heard on subscribed remote audio during `ms` (−200: nothing at all). */
  detectSilence(ms: number, opts: Pick<ListenOptions, 'fromIdentity'> = {}): Promise<number> {
    return this.call('detectSilence', ms, opts);
  }

  /** detectTone on this page's own microphone sent through two in-page RTCPeerConnections; needs no server. */
  detectLoopbackTone(hz: number, opts: { timeoutMs?: number } = {}): Promise<ToneResult> {
    return this.call('detectLoopbackTone', hz, opts);
  }

  sendData(text: string, opts: DataOptions = {}): Promise<void> {
    return this.call('sendData', text, opts);
  }

  /** Resolves with the first recorded event (past or future) of `kind` whose fields equal `match`'s. */
  /** How many events have been recorded so far (a `since` mark for waitFor). */
  async eventCount(): Promise<number> {
    return (await this.events()).length;
  }

  /**
   * Waits for a recorded event of `kind` matching `match`. Past events count too, unless `since`
   * (an index from `eventCount()`) says to look only at events recorded after that point.
   */
  async waitFor(
    kind: string,
    match: Partial<RecordedEvent> = {},
    timeoutMs = 10_000,
    since = 0,
  ): Promise<RecordedEvent> {
    const deadline = Date.now() + timeoutMs;
    const wanted = Object.entries(match) as [keyof RecordedEvent, unknown][];
    for (;;) {
      const events = (await this.events()).slice(since);
      const hit = events.find((e) => e.kind === kind && wanted.every(([k, v]) => isDeepStrictEqual(e[k], v)));
      if (hit) return hit;
      if (Date.now() >= deadline) {
        throw new Error(
          `${this.name}: no ${kind} event matching ${JSON.stringify(match)} within ${timeoutMs} ms\n` +
            `events: ${JSON.stringify(events)}\nlogs:\n${this.logs.slice(-LOG_TAIL).join('\n')}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  remoteParticipants(): Promise<RemoteParticipantInfo[]> {
    return this.call('remoteParticipants');
  }

  disconnect(): Promise<void> {
    return this.call('disconnect');
  }

  /** Drops the signal connection the way livekit-client's own tests do ("signal-reconnect"). */
  simulateSignalDrop(): Promise<void> {
    return this.call('simulateSignalDrop');
  }

  rtcpStats(): Promise<RtcpStats> {
    return this.call('rtcpStats');
  }

  close(): Promise<void> {
    return this.context.close();
  }
}
