// Runs `sotto start --dev` (media node + app server + built web app in one process) as a user
// would, on free ports and a fresh SQLite file, and reads its address and first invite code.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

export async function startServer(): Promise<RunningServer> {
  if (!existsSync(DIST)) throw new Error('the web app is not built: run `npm run build` first');
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
