/**
 * PostgreSQL for tests: the server at 127.0.0.1:5432 (user postgres, trust auth, database `test`)
 * if it answers; otherwise one started here from the Debian binaries (initdb into a temp dir) and
 * stopped when the tests finish (SOTTO_TEST_OWN_POSTGRES=1 forces that). Each test gets its own
 * schema, dropped afterwards.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freeTcpPort, portOpen } from '../../../media/test/support/ports.ts';

let server: Promise<{ base: string; stop(): Promise<void> }> | undefined;

function findBinaries(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) {
    const bin = join(root, v, 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error(
    'PostgreSQL tests need a server: nothing listens on 127.0.0.1:5432 and no PostgreSQL binaries were found ' +
      '(looked for /usr/lib/postgresql/<version>/bin/initdb and .../bin/postgres; install the Debian package ' +
      '"postgresql" or start a server on 127.0.0.1:5432 with user postgres, trust auth and a database "test")',
  );
}

/** PostgreSQL refuses to run as root: then run it as the `postgres` system user. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const [u, g] = [id('-u'), id('-g')];
  if (u.status !== 0 || g.status !== 0)
    throw new Error('running as root: PostgreSQL needs a non-root user, and there is no "postgres" user');
  return { uid: Number(u.stdout.trim()), gid: Number(g.stdout.trim()) };
}

async function startOwn(): Promise<{ base: string; stop(): Promise<void> }> {
  const bin = findBinaries();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'sotto-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const init = spawnSync(join(bin, 'initdb'), ['-D', dir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'], {
    encoding: 'utf8',
    ...user,
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const port = await freeTcpPort();
  const proc: ChildProcess = spawn(
    join(bin, 'postgres'),
    ['-D', dir, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1'],
    { stdio: 'ignore', ...user },
  );
  const deadline = Date.now() + 20_000;
  while (!(await portOpen(port))) {
    if (Date.now() > deadline) throw new Error('the test PostgreSQL did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  const admin = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
  await admin.connect();
  await admin.query('create database test');
  await admin.end();
  return {
    base: `postgres://postgres@127.0.0.1:${port}/test`,
    stop: async () => {
      proc.kill('SIGINT');
      await new Promise((r) => proc.once('exit', r));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function ensureServer(): Promise<{ base: string; stop(): Promise<void> }> {
  server ??= (async () =>
    !process.env.SOTTO_TEST_OWN_POSTGRES && (await portOpen(5432))
      ? { base: 'postgres://postgres@127.0.0.1:5432/test', stop: async () => {} }
      : startOwn())();
  return server;
}

/** A fresh schema; `url` selects it through search_path. */
export async function freshPostgres(): Promise<{ url: string; drop(): Promise<void> }> {
  const { base } = await ensureServer();
  const schema = `sotto_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.end();
  return {
    url: `${base}?options=${encodeURIComponent(`-c search_path=${schema}`)}`,
    drop: async () => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      await c.query(`drop schema if exists ${schema} cascade`);
      await c.end();
    },
  };
}

/** Stops a PostgreSQL this process started (no-op for the shared one). */
export async function stopPostgres(): Promise<void> {
  if (!server) return;
  const s = await server;
  server = undefined;
  await s.stop();
}

export interface Backend {
  name: 'sqlite' | 'postgres';
  fresh(): Promise<{ url: string; drop(): Promise<void> }>;
}

export const BACKENDS: Backend[] = [
  {
    name: 'sqlite',
    // a file (not :memory:) so that a second app server can reopen it, and WAL is exercised
    fresh: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sotto-sqlite-'));
      return {
        url: `sqlite:${join(dir, 'sotto.db')}`,
        drop: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  { name: 'postgres', fresh: freshPostgres },
];
