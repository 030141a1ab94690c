import type { HistorySource } from './phase-plan.js';
import type { ReprovisionStatus } from './phases.js';
import type { NodeChanges } from '../store/nodes-repo.js';

/** History rows of the reprovision workflow use these names besides install phases. */
export const REPROVISION_EVENT = 'reprovision';
export const FORMATION_EVENT = 'cluster_formation';

/**
 * A reprovision-status change (admin trigger, watcher verdict, formation
 * outcome) with its history row; NodesService.applyLifecycle writes both in
 * one transaction.
 */
export interface LifecycleChange {
  nodeId: number;
  /** Compare-and-set: apply only while the node's reprovision_status is one of these. */
  expect?: readonly (ReprovisionStatus | null)[];
  changes: NodeChanges;
  history: { phase: string; status: 'in_progress' | 'completed' | 'failed'; message: string; source: HistorySource };
}
