/**
 * Fan-out benchmark: one publisher sending 50 packets/s to N WebRTC listeners through a Sotto
 * media node, each in its own process (node, this one holding the publisher, and the listeners
 * spread over P processes, so that their JS threads, with a callback per packet heard, do not
 * become the bottleneck being measured).
 *
 *   npm run bench:fanout -- --listeners 1000 [--seconds 20] [--concurrency 20] [--idle-seconds 5]
 *                           [--join-timeout 180] [--listener-procs 1] [--transport native|datachannel]
 *                           [--listener-transport native|datachannel]
 *
 * --transport is the node's media transport; --listener-transport the listener bots' peer
 * connections: node-datachannel (a thread and a poll loop per peer) or the node's own native
 * transport as a client (one socket each on the listener process's event loop, much cheaper).
 *
 * Prints a table, then exactly one JSON line with the figures.
 */
import { parseArgs } from 'node:util';
import { mediaTransportKind, signToken } from '@sotto/media';
import { Bot, type BotTransport } from '../packages/media/test/bot/bot.ts';
import { deferred, sleep } from '../packages/media/test/bot/wait.ts';
import { ListenerProcess, ServerProcess } from './fanout-children.ts';
import {
  type FromListeners,
  LatencyHistogram,
  PACKETS_PER_SECOND,
  quantile,
  ROOM,
  share,
  type ToListeners,
  timedPayload,
} from './fanout-shared.ts';

const FRAME_MS = 1000 / PACKETS_PER_SECOND;
/** After the last packet: time for it to reach every listener before CPU is read. */
const DRAIN_MS = 250;
/** After the joins, before memory is read. */
const SETTLE_MS = 1000;

interface Options {
  listeners: number;
  seconds: number;
  concurrency: number;
  idleSeconds: number;
  joinTimeoutMs: number;
  /** Processes holding the listeners (never more than there are listeners). */
  listenerProcs: number;
  listenerTransport: BotTransport;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      listeners: { type: 'string', default: '100' },
      seconds: { type: 'string', default: '20' },
      concurrency: { type: 'string', default: '20' },
      'idle-seconds': { type: 'string', default: '5' },
      'join-timeout': { type: 'string', default: '180' },
      'listener-procs': { type: 'string', default: '1' },
      // the node's media transport (the server process reads SOTTO_MEDIA_TRANSPORT)
      transport: { type: 'string', default: process.env.SOTTO_MEDIA_TRANSPORT ?? 'native' },
      // native-client bots cost the listener processes about half as much CPU as libdatachannel's
      'listener-transport': { type: 'string', default: 'native' },
    },
  });
  const listenerTransport = values['listener-transport'];
  if (listenerTransport !== 'datachannel' && listenerTransport !== 'native')
    throw new Error('--listener-transport must be datachannel or native');
  process.env.SOTTO_MEDIA_TRANSPORT = mediaTransportKind(values.transport);
  const int = (name: keyof typeof values, min: number, max: number) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min || n > max)
      throw new Error(`--${name} must be an integer ${min}-${max}`);
    return n;
  };
  const listeners = int('listeners', 1, 10_000);
  return {
    listeners,
    seconds: int('seconds', 1, 600),
    concurrency: int('concurrency', 1, 200),
    idleSeconds: int('idle-seconds', 1, 60),
    joinTimeoutMs: int('join-timeout', 5, 3600) * 1000,
    listenerProcs: Math.min(int('listener-procs', 1, 64), listeners),
    listenerTransport,
  };
}

/** The publisher bot sending a timed packet every 20 ms, on a drift-free schedule. */
class Publisher {
  /** Counter of the next packet (carried in its payload). */
  seq = 0;
  private stopped = false;

  constructor(readonly bot: Bot) {}

  /** Sends for `frames` frame times or until `stop()`; resolves with how many packets went out. */
  stream(frames: number): Promise<number> {
    this.stopped = false;
    const done = deferred<number>();
    const start = performance.now();
    let frame = 0;
    let sent = 0;
    const tick = () => {
      if (this.stopped || frame >= frames) {
        done.resolve(sent);
        return;
      }
      if (this.bot.sendRtp(timedPayload(this.seq))) {
        this.seq++;
        sent++;
      }
      frame++;
      setTimeout(tick, Math.max(0, start + frame * FRAME_MS - performance.now()));
    };
    tick();
    return done.promise;
  }

  stop(): void {
    this.stopped = true;
  }
}

interface Figures {
  joined: number;
  silent: number;
  failures: Record<string, number>;
  sent: number;
  usPerPacket: number;
  idleUsPerPacket: number;
  usAboveIdle: number;
  latencyP50: number;
  latencyP99: number;
  mbPerListener: number;
  rssGrowthMb: number;
  joinP50: number;
  joinP99: number;
  loss: number;
  /** The listener processes over the measured window: CPU in cores (summed), worst event-loop lag. */
  listenerCores: number;
  listenerLagP99: number;
  listenerLagMax: number;
  listenerRssMb: number;
}

/** The same request to every listener process; their answers in process order. */
function requestAll<T extends FromListeners['type']>(
  procs: ListenerProcess[],
  msg: (proc: ListenerProcess) => ToListeners,
  type: T,
  timeoutMs: number,
): Promise<Extract<FromListeners, { type: T }>[]> {
  return Promise.all(procs.map((p) => p.request(msg(p), type, timeoutMs)));
}

async function run(opts: Options, server: ServerProcess, procs: ListenerProcess[]): Promise<Figures> {
  const token = await signToken('devkey', 'secret', {
    identity: 'publisher',
    video: { roomJoin: true, room: ROOM, canPublish: true, canSubscribe: false },
  });
  const publisher = new Publisher(await Bot.join(server.url, token, { publish: true }));
  const rssBefore = server.rssBytes();

  // joins, with the publisher speaking so that each join ends with a first packet heard
  const warmup = publisher.stream(Math.ceil(opts.joinTimeoutMs / FRAME_MS) + 1000);
  // each process joins its share of the listeners with its share of the concurrency (at least 1)
  const joinedEach = await requestAll(
    procs,
    (p) => ({
      type: 'join',
      url: server.url,
      proc: p.index,
      count: share(opts.listeners, procs.length, p.index),
      concurrency: Math.max(1, share(opts.concurrency, procs.length, p.index)),
      timeoutMs: opts.joinTimeoutMs,
      transport: opts.listenerTransport,
    }),
    'joined',
    opts.joinTimeoutMs + 30_000,
  );
  publisher.stop();
  await warmup;
  const joinMs = joinedEach.flatMap((j) => j.joinMs);
  const silent = joinedEach.reduce((sum, j) => sum + j.silent, 0);
  const failures: Record<string, number> = {};
  for (const j of joinedEach)
    for (const [why, count] of Object.entries(j.failures)) failures[why] = (failures[why] ?? 0) + count;
  const n = joinMs.length;
  if (n === 0) throw new Error(`no listener heard the publisher: ${JSON.stringify(failures)}`);
  await sleep(SETTLE_MS);
  const rssGrowth = server.rssBytes() - rssBefore;

  // idle: everyone connected, nobody speaking
  console.error(`fanout: ${n} joined; idle for ${opts.idleSeconds} s`);
  const idle0 = server.cpuMicros();
  await sleep(opts.idleSeconds * 1000);
  const idleUsPerSecond = (server.cpuMicros() - idle0) / opts.idleSeconds;

  // measured: the publisher speaks for the given seconds
  const fromSeq = publisher.seq;
  await requestAll(procs, () => ({ type: 'measure', fromSeq }), 'measuring', 5_000);
  console.error(`fanout: measuring for ${opts.seconds} s`);
  const cpu0 = server.cpuMicros();
  const t0 = performance.now();
  const sent = await publisher.stream(opts.seconds * PACKETS_PER_SECOND);
  await sleep(DRAIN_MS);
  const cpuUs = server.cpuMicros() - cpu0;
  const windowSeconds = (performance.now() - t0) / 1000;
  const reports = await requestAll(
    procs,
    () => ({ type: 'report', toSeq: fromSeq + sent - 1 }),
    'report',
    30_000,
  );
  publisher.bot.close();
  const latency = new LatencyHistogram();
  for (const r of reports) latency.merge(r.latency);
  const received = reports.reduce((sum, r) => sum + r.received, 0);
  const listenerCpuUs = reports.reduce((sum, r) => sum + r.cpuMicros, 0);

  const forwarded = sent * n;
  return {
    joined: n,
    silent,
    failures,
    sent,
    usPerPacket: cpuUs / forwarded,
    idleUsPerPacket: (idleUsPerSecond * windowSeconds) / forwarded,
    usAboveIdle: (cpuUs - idleUsPerSecond * windowSeconds) / forwarded,
    latencyP50: latency.quantile(0.5),
    latencyP99: latency.quantile(0.99),
    mbPerListener: rssGrowth / 2 ** 20 / n,
    rssGrowthMb: rssGrowth / 2 ** 20,
    joinP50: quantile(joinMs, 0.5),
    joinP99: quantile(joinMs, 0.99),
    loss: 1 - received / (sent * opts.listeners),
    listenerCores: listenerCpuUs / 1e6 / windowSeconds,
    listenerLagP99: Math.max(...reports.map((r) => r.loopDelayP99)),
    listenerLagMax: Math.max(...reports.map((r) => r.loopDelayMax)),
    listenerRssMb: reports.reduce((sum, r) => sum + r.rssBytes, 0) / 2 ** 20,
  };
}

function printTable(opts: Options, f: Figures, serverLogLines: number): void {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  const failed = Object.entries(f.failures).map(([why, count]) => `${count}× ${why}`);
  const rows: [string, string][] = [
    ['media transport', `${process.env.SOTTO_MEDIA_TRANSPORT}`],
    ['listener processes', `${opts.listenerProcs}`],
    ['listener transport', opts.listenerTransport],
    ['listeners heard the publisher', `${f.joined} of ${opts.listeners}`],
    ...(f.silent > 0 ? [['joined but silent', `${f.silent}`] as [string, string]] : []),
    ...failed.map((why) => ['join failed', why] as [string, string]),
    ['join → first packet p50 / p99', `${ms(f.joinP50)} / ${ms(f.joinP99)}`],
    ['packets sent (measured)', `${f.sent} in ${opts.seconds} s`],
    ['server CPU per forwarded packet', `${f.usPerPacket.toFixed(2)} µs`],
    ['  of which idle / above idle', `${f.idleUsPerPacket.toFixed(2)} µs / ${f.usAboveIdle.toFixed(2)} µs`],
    ['added latency p50 / p99', `${ms(f.latencyP50)} / ${ms(f.latencyP99)}`],
    ['server memory per listener', `${f.mbPerListener.toFixed(3)} MB (RSS +${f.rssGrowthMb.toFixed(1)} MB)`],
    ['loss', `${(f.loss * 100).toFixed(3)} %`],
    ['listener CPU (measured window)', `${(f.listenerCores * 100).toFixed(0)} % of a core`],
    ['listener event-loop lag p99 / max', `${ms(f.listenerLagP99)} / ${ms(f.listenerLagMax)}`],
    ['listener memory (RSS, all)', `${f.listenerRssMb.toFixed(0)} MB`],
  ];
  if (serverLogLines > 0) rows.push(['server log lines not shown', `${serverLogLines}`]);
  console.log(
    `\nSotto fan-out: 1 publisher at ${PACKETS_PER_SECOND} packets/s → ${opts.listeners} listeners`,
  );
  for (const [k, v] of rows) console.log(`  ${k.padEnd(34)} ${v}`);
}

async function main(): Promise<void> {
  const opts = readOptions();
  const children: { kill(): void }[] = [];
  process.on('exit', () => {
    for (const c of children) c.kill();
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));
  const budgetMs = opts.joinTimeoutMs + (opts.idleSeconds + opts.seconds) * 1000 + 120_000;
  setTimeout(() => {
    console.error(`fanout: gave up after ${budgetMs / 1000} s`);
    process.exit(1);
  }, budgetMs).unref();
  const fail = (why: string) => {
    console.error(`fanout: ${why}`);
    process.exit(1);
  };

  const server = await ServerProcess.start();
  children.push(server);
  server.onExit = (err) => fail(err.message);
  const procs = Array.from({ length: opts.listenerProcs }, (_, i) => new ListenerProcess(i));
  for (const p of procs) {
    children.push(p);
    p.onExit(fail);
  }
  await Promise.all(procs.map((p) => p.ready(30_000)));

  const f = await run(opts, server, procs);
  printTable(opts, f, server.unechoedLogLines);
  const round = (v: number, digits: number) => Number(v.toFixed(digits));
  console.log(
    JSON.stringify({
      listeners: opts.listeners,
      transport: process.env.SOTTO_MEDIA_TRANSPORT,
      listener_transport: opts.listenerTransport,
      us_per_packet: round(f.usPerPacket, 3),
      latency_p50_ms: round(f.latencyP50, 2),
      latency_p99_ms: round(f.latencyP99, 2),
      mb_per_listener: round(f.mbPerListener, 4),
      join_p50_ms: round(f.joinP50, 1),
      join_p99_ms: round(f.joinP99, 1),
      loss: round(f.loss, 5),
      listener_cores: round(f.listenerCores, 3),
      listener_lag_max_ms: round(f.listenerLagMax, 1),
    }),
  );
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`fanout: ${err.message}`);
    process.exit(1);
  },
);
