import type { Knex } from 'knex';
import { rowToNode, type Node } from './nodes-repo.js';
import { nullableNumber, nullableString } from './rows.js';

/** What the deployment summary is built from (server/nodes/summary.ts does the arithmetic). */
export interface SummaryRows {
  byPhase: Record<string, number>;
  byReprovisionStatus: Record<string, number>;
  /** Nodes on their way (not deployed, failed or pending), oldest first, at most 500. */
  inProgress: Node[];
  /** Failed nodes, latest first, at most 100, each with its latest failure message. */
  failures: { node: Node; message: string | null }[];
  /** The deployed nodes' install start (reprovision start, else registration) and end. */
  deployed: { startedAt: number; endedAt: number }[];
}

async function countBy(knex: Knex, column: string): Promise<Record<string, number>> {
  const rows = (await knex('nodes').select(column).count({ n: '*' }).groupBy(column)) as Record<string, unknown>[];
  return Object.fromEntries(rows.map((r) => [String(r[column] ?? 'none'), Number(r.n)]));
}

/** The summary's reads; `deployedPhase` and `failurePhases` come from the phase catalogue. */
export async function readSummaryRows(
  knex: Knex,
  deployedPhase: string,
  failurePhases: readonly string[],
): Promise<SummaryRows> {
  const [byPhase, byReprovisionStatus] = await Promise.all([
    countBy(knex, 'deployment_status'),
    countBy(knex, 'reprovision_status'),
  ]);
  const inProgress = await knex('nodes')
    .whereNot('deployment_status', deployedPhase)
    .whereNotIn('deployment_status', [...failurePhases, 'pending'])
    .where((q) => q.whereNull('deployment_phase_status').orWhereNot('deployment_phase_status', 'failed'))
    .orderBy('id')
    .limit(500);
  const failures = (
    await knex('nodes as n')
      .where((q) => q.where('n.deployment_phase_status', 'failed').orWhereIn('n.deployment_status', [...failurePhases]))
      .orderBy('n.last_update', 'desc')
      .limit(100)
  ).map(rowToNode);
  const messages = await lastFailureMessages(
    knex,
    failures.map((f) => f.id),
  );
  const deployed = (await knex('nodes')
    .where({ deployment_status: deployedPhase, deployment_phase_status: 'completed' })
    .select('registered_at', 'reprovision_started', 'last_update')) as Record<string, unknown>[];
  return {
    byPhase,
    byReprovisionStatus,
    inProgress: inProgress.map(rowToNode),
    failures: failures.map((node) => ({ node, message: messages.get(node.id) ?? null })),
    deployed: deployed.map((d) => ({
      startedAt: nullableNumber(d.reprovision_started) ?? Number(d.registered_at),
      endedAt: Number(d.last_update),
    })),
  };
}

/** Each node's latest failure message (read oldest first, so the later rows win in the Map). */
async function lastFailureMessages(knex: Knex, nodeIds: number[]): Promise<Map<number, string | null>> {
  if (nodeIds.length === 0) return new Map();
  const rows = (await knex('deployment_history')
    .whereIn('node_id', nodeIds)
    .where('status', 'failed')
    .orderBy('id', 'asc')
    .select('node_id', 'message')) as Record<string, unknown>[];
  return new Map(rows.map((r) => [Number(r.node_id), nullableString(r.message)]));
}
