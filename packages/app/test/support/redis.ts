/**
 * Redis for tests: the server at 127.0.0.1:6379 if it answers; otherwise a throwaway
 * `redis-server` (no persistence) on a free port, stopped when the tests finish
 * (SOTTO_TEST_OWN_REDIS=1 forces that).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { after } from 'node:test';
import { freeTcpPort, portOpen } from '../../../media/test/support/ports.ts';

let server: Promise<{ url: string; stop(): Promise<void> }> | undefined;

export function redisUrl(): Promise<string> {
  server ??= start();
  return server.then((s) => s.url);
}

after(async () => {
  const s = server;
  server = undefined;
  await (await s)?.stop();
});

async function start(): Promise<{ url: string; stop(): Promise<void> }> {
  if (!process.env.SOTTO_TEST_OWN_REDIS && (await portOpen(6379)))
    return { url: 'redis://127.0.0.1:6379', stop: async () => {} };
  if (spawnSync('redis-server', ['--version']).status !== 0)
    throw new Error(
      'Redis tests need a server: nothing listens on 127.0.0.1:6379 and redis-server is not installed ' +
        '(install the Debian package "redis-server", or start one on 127.0.0.1:6379)',
    );
  const port = await freeTcpPort();
  const child: ChildProcess = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const deadline = Date.now() + 10_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
