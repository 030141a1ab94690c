/**
 * Leases and reservations in the store (knex). The leases table has unique
 * mac and unique ip, and the store, not any one server's memory, decides who
 * holds an address: several homeport instances on one PostgreSQL each keep
 * their own LeaseBook, and a claim only takes an address that no other MAC
 * holds in the table (checked and written in one transaction, under row
 * locks; the unique ip index stops two claims of a free address racing:
 * the loser's insert fails, and it looks again).
 */
import type { Knex } from 'knex';
import type { Lease, LeaseState } from './leases';

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
  lease: Lease;
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

export class LeaseRepository {
  constructor(private readonly knex: Knex) {}

  async loadAll(): Promise<Lease[]> {
    const rows = (await this.knex<LeaseRow>('leases').select()) as LeaseRow[];
    return rows.filter((row) => LEASE_STATES.has(row.state)).map(toLease);
  }

  /** Claims leases in one transaction (one fsync for a batch); each claim succeeds or fails on its own. */
  async claim(claims: LeaseClaim[], now: number): Promise<ClaimOutcome[]> {
    if (claims.length === 0) return [];
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
  private async claimOne(trx: Knex.Transaction, { lease, replaces, offer }: LeaseClaim, now: number): Promise<ClaimOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await trx.transaction(async (sp) => {
          const query = sp<LeaseRow>('leases').where({ mac: lease.mac }).orWhere({ ip: lease.ip });
          if (sp.client.config.client === 'pg') query.forUpdate();
          const rows = (await query) as LeaseRow[];
          const other = rows.find((row) => row.ip === lease.ip && row.mac !== lease.mac && row.mac !== replaces && isHeld(row, now));
          if (other) return { ok: false, holder: toLease(other) };
          // An offer never touches the client's bound lease (a late offer from another instance would downgrade it).
          const bound = rows.find((row) => row.mac === lease.mac && row.state === 'bound' && isHeld(row, now));
          if (offer && bound) return bound.ip === lease.ip ? { ok: true } : { ok: false, holder: toLease(bound) };
          // Only the rows looked at (and locked): a row another instance committed since is not ours to
          // remove; the insert then fails on the unique index and the claim looks again.
          if (rows.length > 0) await sp('leases').whereIn('id', rows.map((row) => row.id)).delete();
          await sp('leases').insert(toRow(lease, now));
          return { ok: true } as const;
        });
      } catch (err) {
        if (!isUniqueViolation(err) || attempt >= CLAIM_ATTEMPTS) throw err;
      }
    }
  }

  /** Static reservations: nodes with an address, MAC → IP. */
  async loadReservations(): Promise<Map<string, { ip: string; hostname: string | null }>> {
    const rows = (await this.knex('nodes').whereNotNull('ip').select('mac', 'ip', 'hostname')) as {
      mac: string;
      ip: string;
      hostname: string | null;
    }[];
    return new Map(rows.map((row) => [row.mac, { ip: row.ip, hostname: row.hostname }]));
  }
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
