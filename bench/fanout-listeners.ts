/**
 * The listener side of the fan-out benchmark, in its own process (forked by fanout.ts): joins N
 * WebRTC listeners a few at a time, then counts what they receive and how late it arrives.
 */
import { signToken } from '@sotto/media';
import { Bot } from '../packages/media/test/bot/bot.ts';
import { parseRtp } from '../packages/media/test/bot/rtp.ts';
import { sleep } from '../packages/media/test/bot/wait.ts';
import {
  type FromListeners,
  quantile,
  ROOM,
  readTimedPayload,
  type ToListeners,
  wallNow,
} from './fanout-shared.ts';

const bots: Bot[] = [];
/** Counted packets are those with a payload counter ≥ this (set by `measure`). */
let fromSeq = Number.POSITIVE_INFINITY;
const latencies: number[] = [];
const seqs: number[] = [];

function send(msg: FromListeners): void {
  process.send?.(msg);
}

function record(rtp: Buffer): void {
  const { sentAt, seq } = readTimedPayload(parseRtp(rtp).payload);
  if (seq < fromSeq) return;
  latencies.push(wallNow() - sentAt);
  seqs.push(seq);
}

async function joinAll(url: string, count: number, concurrency: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const failures: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < count && performance.now() < deadline) {
      const identity = `listener-${next++}`;
      const token = await signToken('devkey', 'secret', {
        identity,
        video: { roomJoin: true, room: ROOM, canSubscribe: true, canPublish: false, canPublishData: false },
      });
      try {
        const timeoutMs = Math.min(20_000, deadline - performance.now());
        const bot = await Bot.join(url, token, { slots: 1, roster: false, timeoutMs });
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

function report(toSeq: number): void {
  const counted = latencies.filter((_, i) => seqs[i] <= toSeq);
  send({
    type: 'report',
    received: counted.length,
    latencyP50: quantile(counted, 0.5),
    latencyP99: quantile(counted, 0.99),
  });
}

process.on('message', (msg: ToListeners) => {
  switch (msg.type) {
    case 'join':
      joinAll(msg.url, msg.count, msg.concurrency, msg.timeoutMs).catch((err) => {
        console.error('listeners: join failed', err);
        process.exit(1);
      });
      return;
    case 'measure':
      fromSeq = msg.fromSeq;
      send({ type: 'measuring' });
      return;
    case 'report':
      report(msg.toSeq);
      return;
  }
});

send({ type: 'ready' });

// the benchmark owns this process: when it goes away, so do we
process.on('disconnect', () => {
  for (const bot of bots) bot.close();
  process.exit(0);
});
