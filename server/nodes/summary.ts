import type { Knex } from 'knex';
import type { DeploymentSummary } from './schemas.js';
import { nullableString } from '../store/rows.js';

export type { DeploymentSummary } from './schemas.js';

async function countBy(knex: Knex, column: string): Promise<Record<string, number>> {
  const rows = (await knex('nodes').select(column).count({ n: '*' }).groupBy(column)) as Record<string, unknown>[];
  return Object.fromEntries(rows.map((r) => [String(r[column] ?? 'none'), Number(r.n)]));
}

/**
 * Counts per phase and reprovision status, nodes in progress, failures, and
 * install durations (from the start of the current install, i.e. the
 * reprovision start or registration, to the last update of a deployed node).
 */
export async function deploymentSummary(
  knex: Knex,
  deployedPhase: string,
  failurePhases: readonly string[],
): Promise<DeploymentSummary> {
  const [byPhase, byReprovision] = await Promise.all([
    countBy(knex, 'deployment_status'),
    countBy(knex, 'reprovision_status'),
  ]);
  const inProgress = await knex('nodes')
    .whereNot('deployment_status', deployedPhase)
    .whereNotIn('deployment_status', [...failurePhases, 'pending'])
    .where((q) => q.whereNull('deployment_phase_status').orWhereNot('deployment_phase_status', 'failed'))
    .orderBy('id')
    .limit(500);
  const failures = await knex('nodes as n')
    .where((q) => q.where('n.deployment_phase_status', 'failed').orWhereIn('n.deployment_status', [...failurePhases]))
    .orderBy('n.last_update', 'desc')
    .limit(100);
  const lastMessages = await lastFailureMessages(
    knex,
    failures.map((f) => Number(f.id)),
  );
  const deployed = (await knex('nodes')
    .where({ deployment_status: deployedPhase, deployment_phase_status: 'completed' })
    .select('registered_at', 'reprovision_started', 'last_update')) as Record<string, unknown>[];
  const seconds = deployed.map(
    (d) => (Number(d.last_update) - Number(d.reprovision_started ?? d.registered_at)) / 1000,
  );
  return {
    total_nodes: Object.values(byPhase).reduce((a, b) => a + b, 0),
    by_phase: byPhase,
    by_reprovision_status: byReprovision,
    in_progress: inProgress.map((n) => ({
      id: Number(n.id),
      hostname: n.hostname,
      mac: n.mac,
      phase: n.deployment_status,
      since: n.phase_started_at ? new Date(Number(n.phase_started_at)).toISOString() : null,
    })),
    failures: failures.map((n) => ({
      id: Number(n.id),
      hostname: n.hostname,
      mac: n.mac,
      phase: n.deployment_status,
      message: lastMessages.get(Number(n.id)) ?? null,
      at: new Date(Number(n.last_update)).toISOString(),
    })),
    durations: {
      deployed_nodes: seconds.length,
      avg_seconds: seconds.length ? Math.round(seconds.reduce((a, b) => a + b, 0) / seconds.length) : null,
      min_seconds: seconds.length ? Math.round(Math.min(...seconds)) : null,
      max_seconds: seconds.length ? Math.round(Math.max(...seconds)) : null,
    },
  };
}

async function lastFailureMessages(knex: Knex, nodeIds: number[]): Promise<Map<number, string | null>> {
  if (nodeIds.length === 0) return new Map();
  const rows = (await knex('deployment_history')
    .whereIn('node_id', nodeIds)
    .where('status', 'failed')
    .orderBy('id', 'asc')
    .select('node_id', 'message')) as Record<string, unknown>[];
  return new Map(rows.map((r) => [Number(r.node_id), nullableString(r.message)]));
}
