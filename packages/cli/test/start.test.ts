// `sotto start` as a user runs it: it serves, and it refuses bad setups with one clear line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freeUdpPort } from '../../media/test/support/ports.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI until it exits, or until `until` matches its stdout; then awaits `whileUp` (the
 * server still running) and stops it with SIGTERM.
 */
function cli(
  args: string[],
  until?: RegExp,
  whileUp: (stdout: string) => Promise<void> = async () => {},
  timeoutMs = 20_000,
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sotto ${args.join(' ')} did not finish: ${stdout}${stderr}`));
    }, timeoutMs);
    let matched = false;
    let failure: unknown;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (matched || !until?.test(stdout)) return;
      matched = true;
      whileUp(stdout).then(
        () => child.kill('SIGTERM'),
        (err) => {
          failure = err;
          child.kill('SIGTERM');
        },
      );
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else resolve({ code, stdout, stderr });
    });
  });
}

describe('sotto start', { timeout: 60_000 }, () => {
  const held: { close(): void }[] = [];
  after(() => {
    for (const h of held) h.close();
  });

  it('serves the media node, the app API and the web app on one port; stops cleanly on SIGTERM', async () => {
    const udp = await freeUdpPort();
    const dir = await mkdtemp(join(tmpdir(), 'sotto-cli-'));
    try {
      const run = await cli(
        ['start', '--dev', '--port', '0', '--udp-port', String(udp), '--database', `sqlite:${dir}/s.db`],
        /First invite code/,
        async (stdout) => {
          const base = /Sotto app on (http:\/\/localhost:\d+)/.exec(stdout)?.[1];
          assert.ok(base, stdout);
          const me = await fetch(`${base}/api/me`);
          assert.equal(me.status, 401);
          assert.equal(me.headers.get('content-type'), 'application/problem+json');
          const page = await fetch(`${base}/room/anything`); // a client route: the SPA's index.html
          assert.equal(page.status, 200);
          assert.match(await page.text(), /<div id="root">/);
          assert.equal(await (await fetch(`${base}/healthz`)).text(), 'OK');
        },
      );
      assert.match(run.stdout, new RegExp(`Sotto media node on ws://127\\.0\\.0\\.1:\\d+ \\(UDP ${udp}\\)`));
      assert.match(run.stdout, /dev mode: key devkey/);
      assert.match(run.stdout, /First invite code \(no accounts yet\): [A-Z0-9]{8,}/);
      assert.equal(run.code, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a database URL it cannot use, with exit code 2', async () => {
    const run = await cli(['start', '--dev', '--port', '0', '--database', 'mysql://x']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--database must be sqlite:PATH or postgres:\/\/…/);
  });

  it('refuses a UDP port already in use, with exit code 2', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    held.push(sock);
    const run = await cli(['start', '--dev', '--port', '0', '--udp-port', String(sock.address().port)]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /^sotto: UDP port \d+ on 127\.0\.0\.1 is already in use\n$/);
  });

  it('refuses a TCP port already in use, with exit code 2', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    held.push(server);
    const port = (server.address() as { port: number }).port;
    const run = await cli([
      'start',
      '--dev',
      '--port',
      String(port),
      '--udp-port',
      String(await freeUdpPort()),
    ]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, new RegExp(`^sotto: TCP port ${port} on 127\\.0\\.0\\.1 is already in use\\n$`));
  });

  it('refuses to start without keys outside dev mode', async () => {
    const run = await cli(['start']);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /no API keys/);
  });
});

describe('sotto token', () => {
  it('prints a join token for the dev key', async () => {
    const run = await cli(['token', '--dev', '--room', 'demo', '--identity', 'alice']);
    assert.equal(run.code, 0);
    const [, payload] = run.stdout.trim().split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    assert.equal(claims.iss, 'devkey');
    assert.equal(claims.sub, 'alice');
    assert.deepEqual(claims.video, {
      roomJoin: true,
      room: 'demo',
      canPublish: true,
      canSubscribe: true,
      canPublishData: true,
    });
  });
});
