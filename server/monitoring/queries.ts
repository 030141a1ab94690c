/** Read-only queries the status page and the node gauges need beyond NodesService. */
import type { Knex } from 'knex';
import type { NodeCounts } from '../metrics/domain';

export interface ClusterRow {
  name: string;
  driver: string;
  state: string;
  expectedNodes: number | null;
  lastError: string | null;
  formedAt: number | null;
  updatedAt: number;
}

const nullableNumber = (value: unknown) => (value === null || value === undefined ? null : Number(value));

export async function listClusters(knex: Knex): Promise<ClusterRow[]> {
  const rows = (await knex('clusters').orderBy('name').limit(1000)) as Record<string, unknown>[];
  return rows.map((row) => ({
    name: String(row.name),
    driver: String(row.driver),
    state: String(row.state),
    expectedNodes: nullableNumber(row.expected_nodes),
    lastError: (row.last_error as string | null) ?? null,
    formedAt: nullableNumber(row.formed_at),
    updatedAt: Number(row.updated_at),
  }));
}

export async function countNodes(knex: Knex): Promise<NodeCounts> {
  const [byPhase, byReprovision] = await Promise.all([
    knex('nodes').select('deployment_status', 'deployment_phase_status').count({ n: '*' }).groupBy('deployment_status', 'deployment_phase_status') as Promise<Record<string, unknown>[]>,
    knex('nodes').select('reprovision_status').count({ n: '*' }).groupBy('reprovision_status') as Promise<Record<string, unknown>[]>,
  ]);
  return {
    byPhase: byPhase.map((r) => ({ phase: String(r.deployment_status), status: (r.deployment_phase_status as string | null) ?? null, count: Number(r.n) })),
    byReprovisionStatus: byReprovision.map((r) => ({ status: (r.reprovision_status as string | null) ?? null, count: Number(r.n) })),
  };
}
