/**
 * The kernel's floor for the fan-out benchmark's "µs per forwarded packet": CPU per 120-byte UDP
 * packet sent over loopback to N sockets in another process (bench/native/udp-floor.c, built
 * here with the machine's gcc), with one sendto per packet and with sendmmsg batches of 64.
 * The media node's figure (bench/fanout.ts) is this plus SRTP and libdatachannel's per-packet
 * path; the difference is what a native batched send path could win.
 *
 *   node --import tsx bench/udp-floor.ts [--listeners 1000] [--seconds 5] [--runs 3]
 *
 * Prints a table, then one JSON line. Loopback only; bounded by --seconds per run.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    listeners: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
  },
});
const n = Number(values.listeners);
const rounds = Math.round(Number(values.seconds) * 50);
const runs = Number(values.runs);
if (!(n >= 1 && n <= 5000) || !(rounds >= 1 && rounds <= 50 * 120) || !(runs >= 1 && runs <= 10)) {
  console.error('--listeners 1..5000, --seconds 0.02..120, --runs 1..10');
  process.exit(2);
}

const dir = await mkdtemp(join(tmpdir(), 'sotto-udp-floor-'));
try {
  const bin = join(dir, 'udp-floor');
  await run('gcc', ['-O2', '-o', bin, fileURLToPath(new URL('./native/udp-floor.c', import.meta.url))]);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
  const result: Record<string, number> = {};
  for (const batch of [1, 64]) {
    const figures: number[] = [];
    for (let i = 0; i < runs; i++) {
      // one fd per receiving socket: raise the soft limit for the child
      const { stdout } = await run('bash', [
        '-c',
        `ulimit -n ${n + 64} && exec "$0" "$@"`,
        bin,
        String(n),
        String(batch),
        String(rounds),
      ]);
      const m = /sender cpu ([\d.]+) us\/pkt/.exec(stdout);
      if (!m) throw new Error(`unexpected output: ${stdout}`);
      figures.push(Number(m[1]));
    }
    const key = batch === 1 ? 'sendto_us_per_packet' : 'sendmmsg64_us_per_packet';
    result[key] = median(figures);
    console.log(
      `${key.padEnd(26)} ${result[key]?.toFixed(2)} µs (runs: ${figures.map((f) => f.toFixed(2)).join(', ')})`,
    );
  }
  console.log(JSON.stringify({ listeners: n, ...result }));
} finally {
  await rm(dir, { recursive: true, force: true });
}
