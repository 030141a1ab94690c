/**
 * Leases and reservations in the store (knex). The leases table has unique
 * mac and unique ip; saving a lease first removes any row that holds either,
 * in one transaction, so the table mirrors the in-memory LeaseBook.
 */
import type { Knex } from 'knex';
import type { Lease, LeaseState } from './leases';

interface LeaseRow {
  mac: string;
  ip: string;
  hostname: string | null;
  client_id: string | null;
  state: string;
  expires_at: number | string;
  updated_at: number | string;
}

const LEASE_STATES: ReadonlySet<string> = new Set(['offered', 'bound', 'declined', 'released']);

export class LeaseRepository {
  constructor(private readonly knex: Knex) {}

  async loadAll(): Promise<Lease[]> {
    const rows = (await this.knex<LeaseRow>('leases').select()) as LeaseRow[];
    return rows.filter((row) => LEASE_STATES.has(row.state)).map(toLease);
  }

  /** Saves leases in one transaction (one fsync for a batch). */
  async save(leases: Lease[], now: number): Promise<void> {
    if (leases.length === 0) return;
    await this.knex.transaction(async (trx) => {
      for (const lease of leases) {
        await trx('leases').where({ mac: lease.mac }).orWhere({ ip: lease.ip }).delete();
        await trx('leases').insert(toRow(lease, now));
      }
    });
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

function toRow(lease: Lease, now: number): LeaseRow {
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
