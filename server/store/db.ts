import fs from 'node:fs';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import * as initial from '../../db/migrations/001_initial.js';
import * as leaderLeases from '../../db/migrations/002_leader_leases.js';
import * as jobStages from '../../db/migrations/003_job_stages.js';
import * as installRounds from '../../db/migrations/004_install_rounds.js';
import * as hostKeys from '../../db/migrations/005_host_keys.js';
import * as bootEvents from '../../db/migrations/006_boot_events.js';

// PostgreSQL returns bigint (int8) as a string by default; our bigints are
// millisecond timestamps and ids, well inside Number's exact range.
pg.types.setTypeParser(20, (value: string) => Number(value));

export type SqliteSynchronous = 'FULL' | 'NORMAL';

export interface DatabaseOptions {
  /** postgres://... when set; otherwise SQLite at sqlitePath. */
  url?: string;
  sqlitePath: string;
  /**
   * FULL (default): a commit is fsynced before it is acknowledged, so an
   * acknowledged phase report survives a power cut as well as a crash.
   * NORMAL in WAL mode survives a process crash but may lose the last
   * commits on power loss; faster on slow disks.
   */
  synchronous: SqliteSynchronous;
  busyTimeoutMs: number;
}

export interface Database {
  knex: Knex;
  kind: 'sqlite' | 'postgres';
  close(): Promise<void>;
}

/** Migrations are imported, not globbed from disk, so they load the same under tsx and in tests. */
const migrations: Record<string, Knex.Migration> = {
  '001_initial': initial,
  '002_leader_leases': leaderLeases,
  '003_job_stages': jobStages,
  '004_install_rounds': installRounds,
  '005_host_keys': hostKeys,
  '006_boot_events': bootEvents,
};

const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => migrations[name]!,
};

export function openDatabase(options: DatabaseOptions): Database {
  if (options.url) return openPostgres(options.url);
  return openSqlite(options);
}

function openPostgres(url: string): Database {
  const knex = knexFactory({ client: 'pg', connection: url, pool: { min: 0, max: 10 } });
  return { knex, kind: 'postgres', close: () => knex.destroy() };
}

function openSqlite(options: DatabaseOptions): Database {
  fs.mkdirSync(path.dirname(path.resolve(options.sqlitePath)), { recursive: true });
  const knex = knexFactory({
    client: 'better-sqlite3',
    connection: { filename: options.sqlitePath },
    useNullAsDefault: true,
    // One connection: SQLite has one writer anyway, and a single connection
    // makes transactions queue in knex instead of failing with SQLITE_BUSY.
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) => {
        try {
          conn.pragma('journal_mode = WAL');
          conn.pragma(`synchronous = ${options.synchronous}`);
          conn.pragma('foreign_keys = ON');
          conn.pragma(`busy_timeout = ${options.busyTimeoutMs}`);
          done(null, conn);
        } catch (err) {
          done(err as Error, conn);
        }
      },
    },
  });
  return { knex, kind: 'sqlite', close: () => knex.destroy() };
}

/** The parts of knex's client that lend out a pooled connection (knex types its client as any). */
interface KnexConnectionPool {
  acquireConnection(): Promise<SqliteConnection>;
  releaseConnection(conn: SqliteConnection): Promise<unknown>;
}

/**
 * SQLite only: runs `work` synchronously on the one better-sqlite3
 * connection knex's pool holds, borrowed from the pool, so no knex query or
 * transaction runs on it meanwhile (the hot paths: phase reports, lease
 * claims, on prepared statements).
 */
/** Whether this knex runs on better-sqlite3 (homeport's embedded database) rather than PostgreSQL. */
export function isSqliteKnex(knex: Knex): boolean {
  return (knex.client as { config?: { client?: unknown } }).config?.client === 'better-sqlite3';
}

export async function withSqliteConnection<T>(knex: Knex, work: (conn: SqliteConnection) => T): Promise<T> {
  const pool = knex.client as KnexConnectionPool;
  const conn = await pool.acquireConnection();
  try {
    return work(conn);
  } finally {
    await pool.releaseConnection(conn);
  }
}

/** The parts of a better-sqlite3 Database we use directly. */
export interface SqliteConnection {
  pragma(source: string): unknown;
  prepare(source: string): SqliteStatement;
  transaction<T>(fn: () => T): () => T;
  readonly inTransaction: boolean;
}

export interface SqliteStatement {
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
  run(...params: unknown[]): { changes: number; lastInsertRowid: number | bigint };
}

export async function migrateLatest(knex: Knex): Promise<string[]> {
  const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]];
  return applied;
}

export async function pendingMigrations(knex: Knex): Promise<string[]> {
  const [, pending] = (await knex.migrate.list({ migrationSource })) as [unknown, { file?: string }[] | string[]];
  return pending.map((p) => (typeof p === 'string' ? p : String(p.file ?? p)));
}

export async function pingDatabase(knex: Knex): Promise<void> {
  await knex.raw('select 1');
}
