// `sotto start` as a user runs it: it serves, and it refuses bad setups with one clear line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freeUdpPort } from '../../media/test/support/ports.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI until it exits, or until `until` matches its stdout (then stops it). */
function cli(args: string[], until?: RegExp, timeoutMs = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sotto ${args.join(' ')} did not finish: ${stdout}${stderr}`));
    }, timeoutMs);
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      if (until?.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('sotto start', { timeout: 60_000 }, () => {
  const held: { close(): void }[] = [];
  after(() => {
    for (const h of held) h.close();
  });

  it('serves in dev mode on the given ports and stops cleanly on SIGTERM', async () => {
    const udp = await freeUdpPort();
    const run = await cli(
      ['start', '--dev', '--port', '0', '--udp-port', String(udp)],
      /Sotto media node on/,
    );
    assert.match(run.stdout, new RegExp(`Sotto media node on ws://127\\.0\\.0\\.1:\\d+ \\(UDP ${udp}\\)`));
    assert.match(run.stdout, /dev mode: key devkey/);
    assert.equal(run.code, 0);
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
