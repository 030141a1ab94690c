import { bindFields, roundClosesAfter } from '../auth/rounds.js';
import type { NewHistoryEntry } from '../store/history-repo.js';
import { phaseFieldsOf, type Node, type PhaseFields } from '../store/nodes-repo.js';
import { decidePhase, type PhaseCatalogue, type PhaseDecision, type PhaseStatus } from './phases.js';

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

/** The node columns a phase report may change: the store names them (PHASE_FIELDS). */
export type { PhaseFields } from '../store/nodes-repo.js';

/** What a phone-home report does to the node's install round. */
export interface RoundEffect {
  graceMs: number;
  /** The address to bind the round to (its first call), or null. */
  bind: string | null;
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
export function planPhaseReport(
  catalogue: PhaseCatalogue,
  node: Node,
  input: PhaseReportInput,
  now: number,
  round: RoundEffect = { graceMs: 0, bind: null },
): PhasePlan {
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
  const bound = bindFields(round.bind);
  // A report that is only recorded still binds the round on its first call.
  if (!decision.apply)
    return { decision, fields: round.bind === null ? null : { ...phaseFieldsOf(node), ...bound }, history };
  const { phase, phaseStatus } = decision.next;
  const deployed = isDeployed(catalogue, phase, phaseStatus);
  return {
    decision,
    history,
    fields: {
      ...phaseFieldsOf(node),
      ...bound,
      deploymentStatus: phase,
      deploymentPhaseStatus: phaseStatus,
      // A message-only update within the phase keeps the progress it had.
      progress: input.progress ?? (decision.reason === 'progress' ? node.progress : null),
      lastUpdate: now,
      phaseStartedAt: phase !== node.deploymentStatus ? now : node.phaseStartedAt,
      // Boot-once: a deployed node boots from its disk until reprovisioned.
      netbootEnabled: deployed ? false : node.netbootEnabled,
      reprovisionStatus:
        decision.reason === 'failure' && node.reprovisionStatus === 'in_progress' ? 'error' : node.reprovisionStatus,
      roundClosesAt: roundClosesAfter(deployed || decision.reason === 'failure', node, now, round.graceMs),
    },
  };
}
