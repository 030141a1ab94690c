/**
 * Full-mode DHCP's leases and reservations in the store (knex). The leases table has unique
 * mac and unique ip, and the store, not any one server's memory, decides who
 * holds an address: several homeport instances on one PostgreSQL each keep
 * their own LeaseBook, and a claim only takes an address that no other MAC
 * holds in the table (checked and written in one transaction, under row
 * locks; the unique ip index stops two claims of a free address racing:
 * the loser's insert fails, and it looks again).
 *
 * On SQLite a batch of claims runs on better-sqlite3 directly, with prepared
 * statements in one BEGIN IMMEDIATE transaction: the write lock is taken
 * first, so what a claim reads cannot change before it writes, and a claim
 * costs tens of microseconds instead of knex's five round trips.
 */
import type { Knex } from 'knex';
import { withSqliteConnection, type SqliteConnection, type SqliteStatement } from './db.js';

export type LeaseState = 'offered' | 'bound' | 'declined' | 'released';

/** One row of the leases table, as DHCP's lease book holds it. */
export interface Lease {
  mac: string;
  ip: string;
  state: LeaseState;
  /** ms since the epoch */
  expiresAt: number;
  hostname?: string | null;
  clientId?: string | null;
}

/** An offer; `preempts` is the MAC whose older offer of the same address it replaces (the pool had no free address). */
export type OfferedLease = Lease & { preempts?: string };

/** A node's static reservation, from the nodes table. */
export interface Reservation {
  ip: string;
  hostname: string | null;
}

interface LeaseRow {
  id: number;
  mac: string;
  ip: string;
  hostname: string | null;
  client_id: string | null;
  state: string;
  expires_at: number | string;
  updated_at: number | string;
}

const LEASE_STATES: ReadonlySet<string> = new Set(['offered', 'bound', 'declined', 'released']);

export interface LeaseClaim {
  /** An offer's `preempts` names the MAC whose offer of this address it may replace (the book found no free address). */
  lease: OfferedLease;
  /**
   * The MAC whose record of this address the claim replaces although it is
   * held: the declining client's, when a decline files its address under the
   * quarantine placeholder.
   */
  replaces?: string;
  /** An offer: it never replaces the client's bound lease; when that holds another address, that lease is returned. */
  offer?: boolean;
}

/** ok, or the lease that stands in the way (another MAC holds the address, or the client holds another one). */
export type ClaimOutcome = { ok: true } | { ok: false; holder: Lease };

/** Bound and offered leases hold their address until they expire; declined ones until quarantine ends (as LeaseBook). */
function isHeld(row: LeaseRow, now: number): boolean {
  return row.state !== 'released' && Number(row.expires_at) > now;
}

/** Attempts of one claim that lost a race on the unique indexes (another instance inserted first). */
const CLAIM_ATTEMPTS = 3;

export class DhcpLeasesRepo {
  private statements: SqliteLeaseStatements | undefined;

  constructor(private readonly knex: Knex) {}

  async loadAll(): Promise<Lease[]> {
    const rows = (await this.knex<LeaseRow>('leases').select()) as LeaseRow[];
    return rows.filter((row) => LEASE_STATES.has(row.state)).map(toLease);
  }

  /** The lease the store holds for a MAC (another instance's, say), or undefined. */
  async leaseOfMac(mac: string): Promise<Lease | undefined> {
    const row = (await this.knex<LeaseRow>('leases').where({ mac }).first()) as LeaseRow | undefined;
    return row && LEASE_STATES.has(row.state) ? toLease(row) : undefined;
  }

  /**
   * The address full-mode DHCP has bound to a MAC right now, or null
   * (auth.bindSource: lease binds install rounds to it).
   */
  async boundIp(mac: string, now: number): Promise<string | null> {
    const lease = await this.leaseOfMac(mac);
    return lease?.state === 'bound' && lease.expiresAt > now ? lease.ip : null;
  }

  /** Claims leases in one transaction (one fsync for a batch); each claim succeeds or fails on its own. */
  async claim(claims: LeaseClaim[], now: number): Promise<ClaimOutcome[]> {
    if (claims.length === 0) return [];
    if (this.knex.client.config.client === 'better-sqlite3') return this.claimOnSqlite(claims, now);
    return this.knex.transaction(async (trx) => {
      const outcomes: ClaimOutcome[] = [];
      for (const claim of claims) outcomes.push(await this.claimOne(trx, claim, now));
      return outcomes;
    });
  }

  /**
   * One claim in a savepoint: lock the rows holding this MAC or address,
   * refuse when another MAC holds the address, else replace them. A unique
   * violation means another instance inserted one of them since we looked:
   * roll back to the savepoint and look again.
   */
  private async claimOne(trx: Knex.Transaction, claim: LeaseClaim, now: number): Promise<ClaimOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await trx.transaction(async (sp) => {
          const query = sp<LeaseRow>('leases').where({ mac: claim.lease.mac }).orWhere({ ip: claim.lease.ip });
          if (sp.client.config.client === 'pg') query.forUpdate();
          const rows = (await query) as LeaseRow[];
          const decision = decideClaim(rows, claim, now);
          if (decision !== 'write') return decision;
          // Only the rows looked at (and locked): a row another instance committed since is not ours to
          // remove; the insert then fails on the unique index and the claim looks again.
          if (rows.length > 0)
            await sp('leases')
              .whereIn(
                'id',
                rows.map((row) => row.id),
              )
              .delete();
          await sp('leases').insert(toRow(claim.lease, now));
          return { ok: true } as const;
        });
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= CLAIM_ATTEMPTS) throw err;
      }
    }
  }

  /**
   * The batch on the connection knex's pool holds (one, for SQLite): while we
   * hold it no knex query runs on it. BEGIN IMMEDIATE takes the write lock
   * before the first read (another process on the same file waits, as
   * busy_timeout says), so no claim can lose a race on the unique indexes.
   */
  private claimOnSqlite(claims: LeaseClaim[], now: number): Promise<ClaimOutcome[]> {
    return withSqliteConnection(this.knex, (conn) => {
      const s = this.sqliteStatements(conn);
      s.begin.run();
      try {
        const outcomes = claims.map((claim) => claimOneOnSqlite(s, claim, now));
        s.commit.run();
        return outcomes;
      } catch (err) {
        if (conn.inTransaction) s.rollback.run();
        throw err;
      }
    });
  }

  private sqliteStatements(conn: SqliteConnection): SqliteLeaseStatements {
    if (this.statements?.conn !== conn) {
      this.statements = {
        conn,
        begin: conn.prepare('BEGIN IMMEDIATE'),
        commit: conn.prepare('COMMIT'),
        rollback: conn.prepare('ROLLBACK'),
        holders: conn.prepare('SELECT * FROM leases WHERE mac = ? OR ip = ?'),
        remove: conn.prepare('DELETE FROM leases WHERE mac = ? OR ip = ?'),
        insert: conn.prepare(
          'INSERT INTO leases (mac, ip, hostname, client_id, state, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        ),
      };
    }
    return this.statements;
  }

  /** Static reservations: nodes with an address, MAC → IP. */
  async loadReservations(): Promise<Map<string, Reservation>> {
    const rows = (await this.knex('nodes').whereNotNull('ip').select('mac', 'ip', 'hostname')) as ({
      mac: string;
    } & Reservation)[];
    return new Map(rows.map((row) => [row.mac, { ip: row.ip, hostname: row.hostname }]));
  }
}

/**
 * What a claim does, given the rows that hold its MAC or its address: refuse
 * (another MAC holds the address), succeed without writing (an offer of the
 * address the client is bound to), or 'write' (replace those rows with the lease).
 * An offer is a soft hold: it stops other offers (so two instances never offer
 * one address), except the one that preempts it, but not a binding (a REQUEST).
 */
function decideClaim(rows: LeaseRow[], { lease, replaces, offer }: LeaseClaim, now: number): ClaimOutcome | 'write' {
  const givesWay = (row: LeaseRow) =>
    row.state === 'offered' && (lease.state === 'bound' || (offer === true && row.mac === lease.preempts));
  const blocks = (row: LeaseRow) => !givesWay(row);
  const other = rows.find(
    (row) => row.ip === lease.ip && row.mac !== lease.mac && row.mac !== replaces && isHeld(row, now) && blocks(row),
  );
  if (other) return { ok: false, holder: toLease(other) };
  // An offer never touches the client's bound lease (a late offer from another instance would downgrade it).
  const bound = rows.find((row) => row.mac === lease.mac && row.state === 'bound' && isHeld(row, now));
  if (offer && bound) return bound.ip === lease.ip ? { ok: true } : { ok: false, holder: toLease(bound) };
  return 'write';
}

interface SqliteLeaseStatements {
  conn: SqliteConnection;
  begin: SqliteStatement;
  commit: SqliteStatement;
  rollback: SqliteStatement;
  holders: SqliteStatement;
  remove: SqliteStatement;
  insert: SqliteStatement;
}

/** One claim inside the batch's transaction: the rows holding its MAC or address are all there are (we hold the write lock). */
function claimOneOnSqlite(s: SqliteLeaseStatements, claim: LeaseClaim, now: number): ClaimOutcome {
  const { mac, ip } = claim.lease;
  const rows = s.holders.all(mac, ip) as LeaseRow[];
  const decision = decideClaim(rows, claim, now);
  if (decision !== 'write') return decision;
  if (rows.length > 0) s.remove.run(mac, ip);
  const row = toRow(claim.lease, now);
  s.insert.run(row.mac, row.ip, row.hostname, row.client_id, row.state, row.expires_at, row.updated_at);
  return { ok: true };
}

function toLease(row: LeaseRow): Lease {
  return {
    mac: row.mac,
    ip: row.ip,
    state: row.state as LeaseState,
    expiresAt: Number(row.expires_at),
    hostname: row.hostname,
    clientId: row.client_id,
  };
}

function toRow(lease: Lease, now: number): Omit<LeaseRow, 'id'> {
  return {
    mac: lease.mac,
    ip: lease.ip,
    hostname: lease.hostname ?? null,
    client_id: lease.clientId ?? null,
    state: lease.state,
    expires_at: lease.expiresAt,
    updated_at: now,
  };
}

function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}
