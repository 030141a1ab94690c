/** Read-only queries the status page and the node gauges need beyond NodesService. */
import type { Knex } from 'knex';
import type { JobsService } from '../jobs/service.js';
import type { NodeCounts } from '../metrics/domain.js';
import { ACTIVE_JOBS_SHOWN, FAILED_JOBS_SHOWN, type JobLists } from './jobs-view.js';
import { nullableNumber, nullableString } from '../store/rows.js';

export interface ClusterRow {
  name: string;
  driver: string;
  state: string;
  expectedNodes: number | null;
  lastError: string | null;
  formedAt: number | null;
  updatedAt: number;
}

export async function listClusters(knex: Knex): Promise<ClusterRow[]> {
  const rows = (await knex('clusters').orderBy('name').limit(1000)) as Record<string, unknown>[];
  return rows.map((row) => ({
    name: String(row.name),
    driver: String(row.driver),
    state: String(row.state),
    expectedNodes: nullableNumber(row.expected_nodes),
    lastError: nullableString(row.last_error),
    formedAt: nullableNumber(row.formed_at),
    updatedAt: Number(row.updated_at),
  }));
}

/**
 * The last message in each node's history (the failure reason of a failed node,
 * the last word of a stalled one), for the few nodes the list shows it for.
 */
export async function lastMessages(knex: Knex, nodeIds: readonly number[]): Promise<Map<number, string>> {
  if (nodeIds.length === 0) return new Map();
  const latest = knex('deployment_history')
    .whereIn('node_id', nodeIds)
    .whereNotNull('message')
    .max('id')
    .groupBy('node_id');
  const rows = (await knex('deployment_history').whereIn('id', latest).select('node_id', 'message')) as Record<
    string,
    unknown
  >[];
  return new Map(rows.map((r) => [Number(r.node_id), String(r.message)]));
}

export async function countNodes(knex: Knex): Promise<NodeCounts> {
  const [byPhase, byReprovision] = await Promise.all([
    knex('nodes')
      .select('deployment_status', 'deployment_phase_status')
      .count({ n: '*' })
      .groupBy('deployment_status', 'deployment_phase_status') as Promise<Record<string, unknown>[]>,
    knex('nodes').select('reprovision_status').count({ n: '*' }).groupBy('reprovision_status') as Promise<
      Record<string, unknown>[]
    >,
  ]);
  return {
    byPhase: byPhase.map((r) => ({
      phase: String(r.deployment_status),
      status: nullableString(r.deployment_phase_status),
      count: Number(r.n),
    })),
    byReprovisionStatus: byReprovision.map((r) => ({
      status: nullableString(r.reprovision_status),
      count: Number(r.n),
    })),
  };
}

/** The jobs the status page lists: everything unfinished, the paused, the latest failures. */
export async function listJobsForPage(jobs: Pick<JobsService, 'list'>): Promise<JobLists> {
  const [running, pending, paused, failed] = await Promise.all([
    jobs.list({ status: 'running', limit: ACTIVE_JOBS_SHOWN }),
    jobs.list({ status: 'pending', limit: ACTIVE_JOBS_SHOWN }),
    jobs.list({ status: 'paused', limit: ACTIVE_JOBS_SHOWN }),
    jobs.list({ status: 'failed', limit: FAILED_JOBS_SHOWN }),
  ]);
  return {
    running: running.jobs,
    pending: pending.jobs,
    activeTotal: running.total + pending.total,
    paused: paused.jobs,
    failed: failed.jobs,
    failedTotal: failed.total,
  };
}
