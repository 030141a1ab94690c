import type { Knex } from 'knex';

/** Most rows one sweep deletes: a sweep is one short statement, the next one takes the rest. */
const SWEEP_BATCH = 500;

/**
 * Open discoveries (server/boot/discovery.ts): nodes homeport registered by
 * itself (status `discovered`) that no admin has given a profile or cluster.
 */
export class DiscoveriesRepo {
  constructor(private readonly knex: Knex) {}

  async countOpen(): Promise<number> {
    const row = (await this.open().count({ n: '*' }).first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  /**
   * Deletes open discoveries registered before `cutoff` that never phoned
   * home (no history row from an installer), with their history; at most
   * SWEEP_BATCH of them. Returns their ids.
   */
  async deleteUnreportedBefore(cutoff: number): Promise<number[]> {
    const phonedHome = this.knex('deployment_history')
      .select(this.knex.raw('1'))
      .whereRaw('deployment_history.node_id = nodes.id')
      .andWhere('source', 'installer');
    const rows: { id: number }[] = await this.open()
      .where('registered_at', '<', cutoff)
      .whereNotExists(phonedHome)
      .orderBy('id')
      .limit(SWEEP_BATCH)
      .select('id');
    const ids = rows.map((r) => Number(r.id));
    if (ids.length) await this.knex('nodes').whereIn('id', ids).delete();
    return ids;
  }

  private open(): Knex.QueryBuilder {
    return this.knex('nodes').where('status', 'discovered').whereNull('profile').whereNull('cluster');
  }
}
