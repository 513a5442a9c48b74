// Two installations sharing one PostgreSQL database in different schemas (search_path) each get
// their own migration tables: Kysely looks them up by name in every schema unless told which.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { sql } from 'kysely';
import { openDatabase } from '../src/store/db.ts';
import { freshPostgres, stopPostgres } from './support/postgres.ts';

after(() => stopPostgres());

test('two schemas of one PostgreSQL database migrate independently', async () => {
  const a = await freshPostgres();
  const b = await freshPostgres();
  try {
    const first = await openDatabase(a.url);
    // the second finds the first's kysely_migration_lock by name in another schema unless the
    // migrator is pointed at its own
    const second = await openDatabase(b.url);
    try {
      for (const [name, db] of [
        ['first', first.db],
        ['second', second.db],
      ] as const) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from kysely_migration`.execute(
          db,
        );
        assert.ok((rows[0]?.n ?? 0) >= 3, `${name}: its own migration table lists the migrations`);
        const users = await sql<{ n: number }>`select count(*)::int as n from users`.execute(db);
        assert.equal(users.rows[0]?.n, 0, `${name}: its own tables`);
      }
    } finally {
      await first.db.destroy();
      await second.db.destroy();
    }
  } finally {
    await a.drop();
    await b.drop();
  }
});
