import type { Knex } from 'knex';

/**
 * A leader lease (table leader_leases): whoever holds an unexpired lease for
 * `name` is the one instance that acts. Taking or renewing it is one UPDATE
 * whose WHERE re-checks "expired or mine", so two instances racing cannot
 * both win on PostgreSQL or SQLite; the row is created on first use.
 */
export class LeaderLease {
  constructor(
    private readonly knex: Knex,
    readonly name: string,
    readonly holder: string,
  ) {}

  /** Takes or renews the lease until now + ttlMs; true when this instance holds it. */
  async acquire(now: number, ttlMs: number): Promise<boolean> {
    const taken = await this.knex('leader_leases')
      .where({ name: this.name })
      .andWhere((w) => w.where({ holder: this.holder }).orWhere('expires_at', '<', now))
      .update({
        // A new holder's acquired_at is now; a renewal keeps the original.
        acquired_at: this.knex.raw('case when holder = ? then acquired_at else ? end', [this.holder, now]),
        holder: this.holder,
        expires_at: now + ttlMs,
      });
    if (taken > 0) return true;
    const inserted = (await this.knex('leader_leases')
      .insert({ name: this.name, holder: this.holder, expires_at: now + ttlMs, acquired_at: now })
      .onConflict('name')
      .ignore()
      .returning('holder')) as unknown[];
    return inserted.length > 0;
  }

  /** Gives the lease up (clean shutdown), so another instance need not wait for it to expire. */
  async release(): Promise<void> {
    await this.knex('leader_leases').where({ name: this.name, holder: this.holder }).update({ expires_at: 0 });
  }

  async current(): Promise<{ holder: string; expiresAt: number } | null> {
    const row = (await this.knex('leader_leases').where({ name: this.name }).first()) as
      { holder: string; expires_at: number | string } | undefined;
    return row ? { holder: row.holder, expiresAt: Number(row.expires_at) } : null;
  }
}
