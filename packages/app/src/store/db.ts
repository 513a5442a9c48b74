/**
 * Opens the database named by a URL — `sqlite:PATH`, `sqlite::memory:` or `postgres://…` — as one
 * Kysely query layer, and migrates it to the current schema.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { migrations } from './migrations.ts';
import type { Database } from './schema.ts';

export type Db = Kysely<Database>;

export interface OpenedDb {
  db: Db;
  engine: 'sqlite' | 'postgres';
}

const INT8_OID = 20;

export async function openDatabase(url: string): Promise<OpenedDb> {
  let opened: OpenedDb;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length) || './data/sotto.db';
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const sqlite = new SQLite(path);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    opened = {
      db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }),
      engine: 'sqlite',
    };
  } else if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    const pool = new pg.Pool({
      connectionString: url,
      max: 10,
      types: {
        getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
          oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as never,
      },
    });
    opened = { db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), engine: 'postgres' };
  } else {
    throw new Error(`unsupported database URL (want sqlite:PATH or postgres://…): ${url.split(':')[0]}:…`);
  }
  // PostgreSQL: keep the migration tables in our own schema (the search_path's first). Kysely
  // otherwise looks for them by name in every schema, so two installations sharing a database in
  // different schemas would each skip creating them (seen with two test runs at once).
  const migrationTableSchema =
    opened.engine === 'postgres'
      ? (await sql<{ schema: string }>`select current_schema() as schema`.execute(opened.db)).rows[0]?.schema
      : undefined;
  const { error } = await new Migrator({
    db: opened.db,
    provider: migrations,
    ...(migrationTableSchema ? { migrationTableSchema } : {}),
  }).migrateToLatest();
  if (error) {
    await opened.db.destroy();
    throw error instanceof Error ? error : new Error(String(error));
  }
  return opened;
}

/**
 * Whether a write failed on a unique constraint (SQLite `SQLITE_CONSTRAINT_UNIQUE`/`_PRIMARYKEY`,
 * PostgreSQL 23505): a race another request won, to be answered as a conflict, not a 500.
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
