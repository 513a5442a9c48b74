// Runs `sotto start --dev` (media node + app server + built web app in one process) as a user
// would, on free ports and a fresh SQLite file, and reads its address and first invite code.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PayloadTamper, PayloadTap } from '@sotto/media';
import { freeUdpPort } from '../../../media/test/support/ports.ts';

const MAIN = fileURLToPath(new URL('../../../cli/src/main.ts', import.meta.url));
const DIST = fileURLToPath(new URL('../../dist/index.html', import.meta.url));

export interface RunningServer {
  /** http://localhost:PORT — a host name, because WebAuthn refuses IP addresses as relying party IDs. */
  url: string;
  firstInvite: string;
  /** Everything the server printed (stdout + stderr), for failure messages and log checks. */
  output(): string;
  stop(): Promise<void>;
}

export interface ServerOptions {
  /**
   * Test-only: sees every RTP payload the media node forwards (the E2EE canary). The CLI has no
   * such switch, so with a tap the media node and the app server run in this process, wired the
   * way `sotto start` wires them.
   */
  payloadTap?: PayloadTap;
  /** Test-only: a tampering media node (in this process too). */
  payloadTamper?: PayloadTamper;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  if (!existsSync(DIST)) throw new Error('the web app is not built: run `npm run build` first');
  if (options.payloadTap || options.payloadTamper) return startInProcess(options);
  const dir = await mkdtemp(join(tmpdir(), 'sotto-e2e-'));
  const udp = await freeUdpPort();
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      MAIN,
      'start',
      '--dev',
      '--port',
      '0',
      '--udp-port',
      String(udp),
      '--database',
      `sqlite:${join(dir, 'sotto.db')}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d;
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d;
  });
  const ready = await new Promise<{ url: string; invite: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${out}`)), 30_000);
    const check = () => {
      const url = /Sotto app on (http:\/\/localhost:\d+)/.exec(out)?.[1];
      const invite = /First invite code[^:]*: (\S+)/.exec(out)?.[1];
      if (url && invite) {
        clearTimeout(timer);
        resolve({ url, invite });
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${out}`));
    });
  });
  return {
    url: ready.url,
    firstInvite: ready.invite,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function startInProcess({ payloadTap, payloadTamper }: ServerOptions): Promise<RunningServer> {
  const { createAppServer } = await import('@sotto/app');
  const { setLogLevel, startMediaNode } = await import('@sotto/media');
  setLogLevel('warn');
  const { resolveConfig } = await import('../../../cli/src/config.ts');
  const dir = await mkdtemp(join(tmpdir(), 'sotto-e2e-'));
  const udp = await freeUdpPort();
  const cfg = resolveConfig(
    ['--dev', '--port', '0', '--udp-port', String(udp), '--database', `sqlite:${join(dir, 'sotto.db')}`],
    {},
  );
  const node = await startMediaNode({
    ...cfg,
    ...(payloadTap ? { payloadTap } : {}),
    ...(payloadTamper ? { payloadTamper } : {}),
  });
  const app = cfg.app;
  if (!app) throw new Error('no app config');
  const [apiKey, apiSecret] = [...cfg.keys.entries()][0] ?? [];
  if (!apiKey || !apiSecret) throw new Error('no API key');
  const httpUrl = node.url.replace(/^ws/, 'http');
  const server = await createAppServer({
    database: app.database,
    media: { apiUrl: httpUrl, apiKey, apiSecret },
    dev: true,
    reportRetentionDays: app.reportRetentionDays,
    webDist: fileURLToPath(new URL('../../dist', import.meta.url)),
  });
  node.mountApp(server.handle);
  node.webhooks.addUrl(`${httpUrl}/api/media/webhook`);
  if (!server.bootstrapInvite) throw new Error('no bootstrap invite');
  return {
    url: httpUrl.replace('//127.0.0.1:', '//localhost:'),
    firstInvite: server.bootstrapInvite,
    output: () => '(in-process server: see the test output)',
    stop: async () => {
      await node.stop();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
