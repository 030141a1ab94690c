import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { migrateLatest, openDatabase, type Database } from '../../server/store/db.js';
import { createTestDatabase } from './postgres.js';

export type DatabaseKind = 'sqlite' | 'postgres';
export const DATABASE_KINDS: DatabaseKind[] = ['sqlite', 'postgres'];

/** A fresh, migrated database of the given kind. */
export async function freshDatabase(kind: DatabaseKind): Promise<Database & { url?: string; sqlitePath: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-db-'));
  const sqlitePath = path.join(dir, 'homeport.sqlite');
  const url = kind === 'postgres' ? await createTestDatabase() : undefined;
  const db = openDatabase({ url, sqlitePath, synchronous: 'FULL', busyTimeoutMs: 5000 });
  await migrateLatest(db.knex);
  return {
    ...db,
    url,
    sqlitePath,
    close: async () => {
      await db.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The env keys that put several homeport instances on one database: a fresh PostgreSQL database, or one SQLite file in `dir`. */
export async function sharedDatabaseEnv(kind: DatabaseKind, dir: string): Promise<Record<string, string>> {
  return kind === 'postgres'
    ? { DATABASE_URL: await createTestDatabase() }
    : { HOMEPORT_DATABASE__SQLITEPATH: path.join(dir, 'shared.sqlite') };
}
