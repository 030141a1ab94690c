import type { Knex } from 'knex';
import { nullableNumber, nullableString } from './rows.js';

export type ClusterState = 'pending' | 'forming' | 'formed' | 'error';

export interface ClusterRow {
  id: number;
  name: string;
  driver: string;
  state: ClusterState;
  expectedNodes: number | null;
  lastError: string | null;
  formedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

function rowToCluster(row: Record<string, unknown>): ClusterRow {
  return {
    id: Number(row.id),
    name: String(row.name),
    driver: String(row.driver),
    state: row.state as ClusterState,
    expectedNodes: nullableNumber(row.expected_nodes),
    lastError: nullableString(row.last_error),
    formedAt: nullableNumber(row.formed_at),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

/** The clusters table: one row per cluster name, its formation state and last error. */
export class ClustersRepo {
  constructor(private readonly knex: Knex) {}

  /** By name; at most `limit` when given (the status page bounds its list). */
  async list(limit?: number): Promise<ClusterRow[]> {
    const query = this.knex('clusters').orderBy('name');
    if (limit !== undefined) query.limit(limit);
    return (await query).map(rowToCluster);
  }

  async byName(name: string): Promise<ClusterRow | null> {
    const row = await this.knex('clusters').where({ name }).first();
    return row ? rowToCluster(row) : null;
  }

  /** Creates the row or updates its configured fields; state is left alone. */
  async upsertConfigured(
    name: string,
    fields: { driver: string; expectedNodes: number | null },
    now: number,
  ): Promise<void> {
    await this.knex('clusters')
      .insert({
        name,
        driver: fields.driver,
        expected_nodes: fields.expectedNodes,
        state: 'pending',
        created_at: now,
        updated_at: now,
      })
      .onConflict('name')
      .merge({ driver: fields.driver, expected_nodes: fields.expectedNodes, updated_at: now });
  }

  /** Sets the state (creating the row for a cluster seen only on nodes); returns the row. */
  async setState(
    name: string,
    state: ClusterState,
    fields: { lastError?: string | null; formedAt?: number | null; driver?: string },
    now: number,
  ): Promise<ClusterRow> {
    const changes: Record<string, unknown> = { state, updated_at: now };
    if (fields.lastError !== undefined) changes.last_error = fields.lastError;
    if (fields.formedAt !== undefined) changes.formed_at = fields.formedAt;
    await this.knex('clusters')
      .insert({ name, driver: fields.driver ?? 'none', created_at: now, ...changes })
      .onConflict('name')
      .merge(changes);
    return (await this.byName(name))!;
  }
}
