import type { Knex } from 'knex';
import {
  buildCatalogue,
  decidePhase,
  isKnownPhase,
  type NodePhaseState,
  type PhaseCatalogue,
  type PhaseStatus,
} from '../../server/nodes/phases.js';

/**
 * The phase store's promise (server/store/phase-store.ts): a report's node
 * update and its history row commit together, in report order per node. So
 * a node's phase columns are the fold of its history: replaying its phase
 * rows (by id) through decidePhase from `pending` gives, row by row, the
 * `applied` flag that was stored, and at the end the node's
 * deployment_status / deployment_phase_status, with last_update equal to the
 * `at` of the last applied row. A half-written report (node updated without
 * its row, or a row without its update) breaks the fold.
 * Returns the violations, one line each (empty: consistent).
 */
export async function phaseStoreViolations(
  knex: Knex,
  catalogue: PhaseCatalogue = buildCatalogue(),
): Promise<string[]> {
  const nodes = (await knex('nodes').select(
    'id',
    'mac',
    'deployment_status',
    'deployment_phase_status',
    'last_update',
    'registered_at',
  )) as Record<string, unknown>[];
  const rows = (await knex('deployment_history')
    .select('id', 'node_id', 'phase', 'status', 'message', 'progress', 'applied', 'at')
    .orderBy('id')) as Record<string, unknown>[];
  const byNode = new Map<number, Record<string, unknown>[]>();
  for (const row of rows) byNode.set(Number(row.node_id), [...(byNode.get(Number(row.node_id)) ?? []), row]);
  const violations: string[] = [];
  const nodeIds = new Set(nodes.map((n) => Number(n.id)));
  for (const nodeId of byNode.keys())
    if (!nodeIds.has(nodeId)) violations.push(`history rows for missing node ${nodeId}`);
  for (const node of nodes) {
    let state: NodePhaseState = { phase: 'pending', phaseStatus: null };
    let lastAppliedAt: number | null = null;
    for (const row of byNode.get(Number(node.id)) ?? []) {
      if (!isKnownPhase(catalogue, String(row.phase))) continue; // registration and events never move the phase
      const progress = row.progress === null ? null : Number(row.progress);
      const decision = decidePhase(catalogue, state, {
        phase: String(row.phase),
        status: row.status as PhaseStatus,
        progress,
        message: row.message as string | null,
      });
      const applied = row.applied === true || row.applied === 1;
      if (decision.apply !== applied)
        violations.push(
          `${node.mac}: row ${row.id} (${row.phase} ${row.status}) stored applied=${applied}, replay says ${decision.apply}`,
        );
      if (decision.apply) {
        state = { ...decision.next, progress: progress ?? (decision.reason === 'progress' ? state.progress : null) };
        lastAppliedAt = Number(row.at);
      }
    }
    const stored = `${node.deployment_status}/${node.deployment_phase_status ?? null}`;
    if (stored !== `${state.phase}/${state.phaseStatus}`)
      violations.push(`${node.mac}: node says ${stored}, its history folds to ${state.phase}/${state.phaseStatus}`);
    if (lastAppliedAt !== null && Number(node.last_update) !== lastAppliedAt)
      violations.push(
        `${node.mac}: last_update ${node.last_update} is not the last applied report's time ${lastAppliedAt}`,
      );
  }
  return violations;
}
