/**
 * The listener side of the fan-out benchmark, in its own process (forked by fanout.ts, possibly
 * several times): joins its share of the listeners a few at a time, then counts what they receive
 * and how late it arrives, into a histogram the main process merges with the other processes'.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { signToken } from '@sotto/media';
import { Bot, type BotTransport } from '../packages/media/test/bot/bot.ts';
import { sleep } from '../packages/media/test/bot/wait.ts';
import {
  type FromListeners,
  LatencyHistogram,
  ROOM,
  SENT_AT_OFFSET,
  SEQ_OFFSET,
  type ToListeners,
  wallNow,
} from './fanout-shared.ts';

const RTP_HEADER = 12;
/** The timed payload's fields end here (from the payload's start). */
const TIMED_BYTES = SEQ_OFFSET + 4;

const bots: Bot[] = [];
/** Counted packets are those with a payload counter in fromSeq…toSeq (set by `measure`, `report`). */
let fromSeq = Number.POSITIVE_INFINITY;
let toSeq = Number.POSITIVE_INFINITY;
const latency = new LatencyHistogram();
/** How late this process's event loop runs while measuring: a busy listener process adds latency. */
const LOOP_SAMPLE_MS = 10;
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });
let cpuAtMeasure = process.cpuUsage();

function send(msg: FromListeners): void {
  process.send?.(msg);
}

/**
 * Runs for every packet every listener receives, so it allocates nothing: it finds the payload
 * past the RTP header (CSRCs, extension) and reads the send time and counter straight from it.
 */
function record(rtp: Buffer): void {
  const b0 = rtp[0];
  let offset = RTP_HEADER + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (rtp.length < offset + 4) return;
    offset += 4 + rtp.readUInt16BE(offset + 2) * 4;
  }
  if (rtp.length < offset + TIMED_BYTES) return;
  const seq = rtp.readUInt32LE(offset + SEQ_OFFSET);
  if (seq < fromSeq || seq > toSeq) return;
  latency.add(wallNow() - rtp.readDoubleLE(offset + SENT_AT_OFFSET));
}

async function joinAll(
  url: string,
  proc: number,
  count: number,
  concurrency: number,
  timeoutMs: number,
  transport: BotTransport,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const failures: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const identity = `listener-${proc}-${next++}`;
      const token = await signToken('devkey', 'secret', {
        identity,
        video: { roomJoin: true, room: ROOM, canSubscribe: true, canPublish: false, canPublishData: false },
      });
      try {
        const timeoutMs = Math.min(20_000, deadline - performance.now());
        const bot = await Bot.join(url, token, { slots: 1, roster: false, timeoutMs, transport });
        bot.onRtp(record);
        bots.push(bot);
      } catch (err) {
        const reason = (err as Error).message;
        failures[reason] = (failures[reason] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  // join time runs to the first packet heard; give the last ones a moment to hear it
  for (let i = 0; i < 50 && bots.some((b) => b.timings.firstRtp === undefined); i++) await sleep(100);
  const heard = bots.filter((b) => b.timings.firstRtp !== undefined);
  send({
    type: 'joined',
    joinMs: heard.map((b) => b.timings.firstRtp!),
    silent: bots.length - heard.length,
    failures,
  });
}

/** What was heard, and what it cost this process, since `measure`. */
function report(): FromListeners {
  loopDelay.disable();
  const cpu = process.cpuUsage(cpuAtMeasure);
  return {
    type: 'report',
    received: latency.count,
    latency: latency.toData(),
    cpuMicros: cpu.user + cpu.system,
    // the histogram holds whole sampling intervals: the lag is what exceeds one
    loopDelayP99: Math.max(0, loopDelay.percentile(99) / 1e6 - LOOP_SAMPLE_MS),
    loopDelayMax: Math.max(0, loopDelay.max / 1e6 - LOOP_SAMPLE_MS),
    rssBytes: process.memoryUsage().rss,
  };
}

process.on('message', (msg: ToListeners) => {
  switch (msg.type) {
    case 'join':
      joinAll(msg.url, msg.proc, msg.count, msg.concurrency, msg.timeoutMs, msg.transport).catch((err) => {
        console.error('listeners: join failed', err);
        process.exit(1);
      });
      return;
    case 'measure':
      fromSeq = msg.fromSeq;
      cpuAtMeasure = process.cpuUsage();
      loopDelay.reset();
      loopDelay.enable();
      send({ type: 'measuring' });
      return;
    case 'report':
      // the publisher sends nothing past toSeq before asking for the report, so counting stops here
      // exactly as if every packet had been kept and filtered afterwards
      toSeq = msg.toSeq;
      send(report());
      return;
  }
});

send({ type: 'ready' });

// the benchmark owns this process: when it goes away, so do we
process.on('disconnect', () => {
  for (const bot of bots) bot.close();
  process.exit(0);
});
