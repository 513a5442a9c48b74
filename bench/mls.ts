/**
 * MLS stage cost benchmark (ts-mls, MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, with Sotto's
 * key-directory credential checks).
 *
 *   node --import tsx bench/mls.ts [--runs 3] [--sizes 3,10,50]
 *
 * For a stage of N members (built by one moderator commit adding N-1 speakers), per operation:
 * - add one speaker: commit create (ms), commit bytes, Welcome bytes, commit processing by one
 *   existing member (ms), Welcome processing by the joiner (ms);
 * - remove that speaker: commit create, bytes, processing by a member;
 * - refresh (empty commit with UpdatePath = new SFrame generation): create, bytes, processing;
 * - epoch keys (exporter + security code) per member (ms).
 * Wall-clock medians of --runs rounds. Only the moderator and one receiver follow each epoch.
 * Prints a table, then exactly one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import {
  createStageKeyPackage,
  type DeviceIdentityKeys,
  generateDeviceIdentity,
  MemoryKeyDirectory,
  StageMember,
} from '@sotto/e2ee';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    sizes: { type: 'string', default: '3,10,50' },
  },
});
const runs = Math.max(1, Math.min(20, Number(values.runs)));
const sizes = values.sizes
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n >= 2 && n <= 200);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function timed<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await f();
  return [r, performance.now() - t0];
}

interface Row {
  members: number;
  buildMs: number;
  addCommitMs: number;
  addCommitBytes: number;
  welcomeBytes: number;
  addProcessMs: number;
  joinMs: number;
  removeCommitMs: number;
  removeCommitBytes: number;
  removeProcessMs: number;
  refreshCommitMs: number;
  refreshCommitBytes: number;
  refreshProcessMs: number;
  epochKeysMs: number;
}

/** The room every bench stage's credentials are bound to. */
const BENCH_ROOM = 'bench-room';

async function benchSize(n: number): Promise<Row> {
  const dir = new MemoryKeyDirectory();
  const mk = async (u: string): Promise<DeviceIdentityKeys> => {
    const k = await generateDeviceIdentity(u, 'd1');
    dir.publish(k.identity);
    return k;
  };
  const t0 = performance.now();
  const modKeys = await mk('mod');
  const mod = await StageMember.create(
    { keys: modKeys, directory: dir, room: BENCH_ROOM },
    new TextEncoder().encode(`bench-${n}`),
  );
  const speakers = await Promise.all(Array.from({ length: n - 1 }, (_, i) => mk(`s${i}`)));
  const pendings = await Promise.all(speakers.map((k) => createStageKeyPackage(k, BENCH_ROOM)));
  const built = await mod.add(pendings.map((p) => p.message));
  // one receiver follows along (joining all n-1 would only cost build time)
  const receiver = await StageMember.join(
    { keys: speakers[0]!, directory: dir, room: BENCH_ROOM },
    built.welcome!,
    pendings[0]!,
  );
  const buildMs = performance.now() - t0;

  const acc: Record<Exclude<keyof Row, 'members' | 'buildMs'>, number[]> = {
    addCommitMs: [],
    addCommitBytes: [],
    welcomeBytes: [],
    addProcessMs: [],
    joinMs: [],
    removeCommitMs: [],
    removeCommitBytes: [],
    removeProcessMs: [],
    refreshCommitMs: [],
    refreshCommitBytes: [],
    refreshProcessMs: [],
    epochKeysMs: [],
  };
  for (let r = 0; r < runs; r++) {
    const newcomer = await mk(`new${r}`);
    const kp = await createStageKeyPackage(newcomer, BENCH_ROOM);
    const [add, addMs] = await timed(() => mod.add([kp.message]));
    acc.addCommitMs.push(addMs);
    acc.addCommitBytes.push(add.commit.length);
    acc.welcomeBytes.push(add.welcome!.length);
    acc.addProcessMs.push((await timed(() => receiver.processMessage(add.commit)))[1]);
    const [joined, joinMs] = await timed(() =>
      StageMember.join({ keys: newcomer, directory: dir, room: BENCH_ROOM }, add.welcome!, kp),
    );
    acc.joinMs.push(joinMs);

    const [rem, remMs] = await timed(() => mod.remove([joined.leafIndex]));
    acc.removeCommitMs.push(remMs);
    acc.removeCommitBytes.push(rem.commit.length);
    acc.removeProcessMs.push((await timed(() => receiver.processMessage(rem.commit)))[1]);

    const [ref, refMs] = await timed(() => mod.refresh());
    acc.refreshCommitMs.push(refMs);
    acc.refreshCommitBytes.push(ref.commit.length);
    acc.refreshProcessMs.push((await timed(() => receiver.processMessage(ref.commit)))[1]);

    acc.epochKeysMs.push((await timed(() => receiver.epochKeys()))[1]);
    const [a, b] = await Promise.all([mod.epochKeys(), receiver.epochKeys()]);
    if (a.securityCode !== b.securityCode) throw new Error('members disagree');
  }
  const row: Row = { members: n, buildMs } as Row;
  for (const [k, xs] of Object.entries(acc)) (row as unknown as Record<string, number>)[k] = median(xs);
  return row;
}

const rows: Row[] = [];
for (const n of sizes) rows.push(await benchSize(n));

const f = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
console.log(`MLS stage costs (wall ms, median of ${runs}; bytes of encoded MLS messages)`);
console.log(
  'members | add: commit ms / B, welcome B, process ms, join ms | remove: commit ms / B, process ms | refresh: commit ms / B, process ms | epoch keys ms',
);
for (const r of rows) {
  console.log(
    `${String(r.members).padStart(7)} | ${f(r.addCommitMs)} / ${r.addCommitBytes}, ${r.welcomeBytes}, ${f(r.addProcessMs)}, ${f(r.joinMs)}` +
      ` | ${f(r.removeCommitMs)} / ${r.removeCommitBytes}, ${f(r.removeProcessMs)}` +
      ` | ${f(r.refreshCommitMs)} / ${r.refreshCommitBytes}, ${f(r.refreshProcessMs)} | ${f(r.epochKeysMs)}`,
  );
}
console.log(JSON.stringify({ bench: 'mls', runs, rows }));
