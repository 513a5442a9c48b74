/**
 * The fan-out benchmark's child processes: the media node under test (with what /proc says about
 * its CPU and memory) and the processes holding the listeners.
 */
import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deferred, withTimeout } from '../packages/media/test/bot/wait.ts';
import { freeTcpPort, freeUdpPort } from '../packages/media/test/support/ports.ts';
import type { FromListeners, ToListeners } from './fanout-shared.ts';

const CLI = fileURLToPath(new URL('../packages/cli/src/main.ts', import.meta.url));
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
/** Server log lines echoed to stderr before the rest are only counted. */
const ECHOED_LINES = 20;

export class ServerProcess {
  /** Called if the process ends by itself. */
  onExit?: (err: Error) => void;
  private logLines = 0;

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  /** `sotto start --dev` on loopback with free ports; resolves once it listens. */
  static async start(timeoutMs = 30_000): Promise<ServerProcess> {
    const port = await freeTcpPort();
    const udpPort = await freeUdpPort();
    const child = spawn(
      process.execPath,
      [
        // e.g. SOTTO_BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the node
        ...(process.env.SOTTO_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        '--import',
        'tsx',
        CLI,
        'start',
        '--dev',
        '--port',
        `${port}`,
        '--udp-port',
        `${udpPort}`,
        '--log-level',
        // SOTTO_BENCH_SERVER_LOG=FILE keeps the node's info log (its stdout) in FILE
        process.env.SOTTO_BENCH_SERVER_LOG ? 'info' : 'warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const server = new ServerProcess(child, `ws://127.0.0.1:${port}`);
    const ready = deferred<void>();
    let banner = '';
    const logFile = process.env.SOTTO_BENCH_SERVER_LOG;
    if (logFile) child.stdout?.pipe(createWriteStream(logFile));
    child.stdout?.on('data', (chunk: Buffer) => {
      banner = (banner + chunk.toString()).slice(-1000);
      if (banner.includes('Sotto media node on')) ready.resolve();
    });
    child.stderr?.on('data', (chunk: Buffer) => server.echo(chunk));
    child.once('exit', (code, signal) => {
      const err = new Error(`the media node exited (${code ?? signal})`);
      ready.reject(err);
      server.onExit?.(err);
    });
    try {
      await withTimeout(ready.promise, timeoutMs, 'the media node to start');
    } catch (err) {
      server.kill();
      throw err;
    }
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** User + system CPU time of the whole process so far, in µs. */
  cpuMicros(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields from 3 (state) on
    const ticks = Number(fields[11]) + Number(fields[12]); // utime (14) + stime (15)
    return (ticks / CLOCK_TICKS) * 1e6;
  }

  /** Resident set size in bytes. */
  rssBytes(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
    if (!kb) throw new Error('no VmRSS in /proc status');
    return Number(kb[1]) * 1024;
  }

  /** Lines the server wrote to stderr beyond the echoed ones. */
  get unechoedLogLines(): number {
    return Math.max(0, this.logLines - ECHOED_LINES);
  }

  kill(): void {
    this.onExit = undefined;
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }

  private echo(chunk: Buffer): void {
    for (const line of chunk.toString().split('\n')) {
      if (!line) continue;
      if (++this.logLines <= ECHOED_LINES) process.stderr.write(`[server] ${line}\n`);
    }
  }
}

/** A listener process (fanout-listeners.ts), spoken to by request and reply over IPC. */
export class ListenerProcess {
  private readonly child: ChildProcess;
  private readonly replies: ((msg: FromListeners) => void)[] = [];
  private readonly started = deferred<void>();

  /** `index` tells the processes apart in messages (and names their listeners). */
  constructor(readonly index: number) {
    const entry = fileURLToPath(new URL('./fanout-listeners.ts', import.meta.url));
    this.child = fork(entry, [], {
      // e.g. SOTTO_BENCH_LISTENER_NODE_ARGS="--trace-gc" to see the listeners' pauses
      execArgv: [
        ...(process.env.SOTTO_BENCH_LISTENER_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
        '--import',
        'tsx',
      ],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (msg: FromListeners) => {
      if (msg.type === 'ready') this.started.resolve();
      for (const reply of this.replies) reply(msg);
    });
  }

  /** Resolves once the process listens for requests. */
  ready(timeoutMs: number): Promise<void> {
    return withTimeout(this.started.promise, timeoutMs, `listener process ${this.index} to start`);
  }

  onExit(cb: (why: string) => void): void {
    this.child.once('exit', (code, signal) =>
      cb(`listener process ${this.index} exited (${code ?? signal})`),
    );
  }

  async request<T extends FromListeners['type']>(
    msg: ToListeners,
    type: T,
    timeoutMs: number,
  ): Promise<Extract<FromListeners, { type: T }>> {
    const got = deferred<Extract<FromListeners, { type: T }>>();
    const reply = (m: FromListeners) => {
      if (m.type === type) got.resolve(m as Extract<FromListeners, { type: T }>);
    };
    this.replies.push(reply);
    this.child.send(msg);
    try {
      return await withTimeout(
        got.promise,
        timeoutMs,
        `listener process ${this.index} to answer "${msg.type}"`,
      );
    } finally {
      this.replies.splice(this.replies.indexOf(reply), 1);
    }
  }

  kill(): void {
    this.child.removeAllListeners('exit');
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
