import type { NewHistoryEntry } from '../store/history-repo';
import type { Node } from '../store/nodes-repo';
import { decidePhase, type PhaseCatalogue, type PhaseDecision, type PhaseStatus } from './phases';

/** Where a history row came from. */
export type HistorySource = 'installer' | 'server' | 'dhcp' | 'watcher' | 'admin';

export interface PhaseReportInput {
  phase: string;
  status: PhaseStatus;
  message?: string | null;
  progress?: number | null;
  source: HistorySource;
  sourceIp?: string | null;
}

/** The node columns a phase report may change, all of them, so one UPDATE fits every report. */
export interface PhaseFields {
  deploymentStatus: string;
  deploymentPhaseStatus: PhaseStatus | null;
  progress: number | null;
  lastUpdate: number;
  phaseStartedAt: number | null;
  netbootEnabled: boolean;
  reprovisionStatus: Node['reprovisionStatus'];
}

export interface PhasePlan {
  decision: PhaseDecision;
  /** The node's new phase fields, or null when the report is only recorded. */
  fields: PhaseFields | null;
  history: Omit<NewHistoryEntry, 'nodeId'>;
}

export function isDeployed(catalogue: PhaseCatalogue, phase: string, status: PhaseStatus | null): boolean {
  return phase === catalogue.ordered[catalogue.ordered.length - 1] && status === 'completed';
}

/**
 * What one report does to a node (pure). Applying it and writing its
 * history row is the store's job, in one transaction.
 */
export function planPhaseReport(catalogue: PhaseCatalogue, node: Node, input: PhaseReportInput, now: number): PhasePlan {
  const decision = decidePhase(
    catalogue,
    { phase: node.deploymentStatus, phaseStatus: node.deploymentPhaseStatus, progress: node.progress },
    { phase: input.phase, status: input.status, progress: input.progress, message: input.message },
  );
  const history = {
    phase: input.phase,
    status: input.status,
    message: input.message ?? null,
    progress: input.progress ?? null,
    source: input.source,
    sourceIp: input.sourceIp ?? null,
    applied: decision.apply,
    at: now,
  };
  if (!decision.apply) return { decision, fields: null, history };
  const { phase, phaseStatus } = decision.next;
  return {
    decision,
    history,
    fields: {
      deploymentStatus: phase,
      deploymentPhaseStatus: phaseStatus,
      // A message-only update within the phase keeps the progress it had.
      progress: input.progress ?? (decision.reason === 'progress' ? node.progress : null),
      lastUpdate: now,
      phaseStartedAt: phase !== node.deploymentStatus ? now : node.phaseStartedAt,
      // Boot-once: a deployed node boots from its disk until reprovisioned.
      netbootEnabled: isDeployed(catalogue, phase, phaseStatus) ? false : node.netbootEnabled,
      reprovisionStatus: decision.reason === 'failure' && node.reprovisionStatus === 'in_progress' ? 'error' : node.reprovisionStatus,
    },
  };
}
