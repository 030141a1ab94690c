/**
 * The install-phase catalogue (seed 001) and the rule for applying a report.
 * Pure: no clock, no database.
 */
import type { PhaseStatus } from '../kernel/statuses.js';

export const DEFAULT_PHASES = [
  'pending',
  'monitoring_start',
  'server_requested',
  'ipxe_boot',
  'config_download',
  'foundation_start',
  'network_config',
  'storage_discovery',
  'image_download',
  'installation',
  'post_install',
  'cluster_formation',
  'dns_registration',
  'health_validation',
  'deployed',
] as const;

export const FAILURE_PHASES = ['failed', 'cleanup_completed'] as const;
export { PHASE_STATUSES, REPROVISION_STATUSES, type PhaseStatus, type ReprovisionStatus } from '../kernel/statuses.js';

export interface PhaseCatalogue {
  /** Ordered install phases, ending with the terminal success phase. */
  ordered: readonly string[];
  failure: readonly string[];
}

/** Extra phases from config are inserted before `deployed`, which stays last. */
export function buildCatalogue(extra: readonly string[] = []): PhaseCatalogue {
  const base = DEFAULT_PHASES.filter((p) => p !== 'deployed');
  const added = extra.filter(
    (p) => !base.includes(p as never) && p !== 'deployed' && !FAILURE_PHASES.includes(p as never),
  );
  return { ordered: [...base, ...added, 'deployed'], failure: FAILURE_PHASES };
}

export function isKnownPhase(catalogue: PhaseCatalogue, phase: string): boolean {
  return catalogue.ordered.includes(phase) || catalogue.failure.includes(phase);
}

export function phaseIndex(catalogue: PhaseCatalogue, phase: string): number {
  return catalogue.ordered.indexOf(phase);
}

export interface NodePhaseState {
  phase: string;
  phaseStatus: PhaseStatus | null;
  /** 0..100 within the phase, when the installer said. */
  progress?: number | null;
}

export interface PhaseReport {
  phase: string;
  status: PhaseStatus;
  progress?: number | null;
  message?: string | null;
}

export type PhaseDecision =
  | { apply: true; next: NodePhaseState; reason: 'advance' | 'same_phase_update' | 'progress' | 'failure' | 'restart' }
  | { apply: false; reason: 'late' | 'duplicate' | 'after_failure' | 'event' };

/**
 * Whether a report moves the node, or is only recorded in history.
 *
 * The rule (also in the README):
 * - A report with status `failed`, or for a failure phase, always applies: a
 *   failure is never hidden behind a later success.
 * - A report for a later phase than the node's current one applies.
 * - A report for the same phase applies when it moves its status forward
 *   (in_progress -> completed), or, while it is in progress, when it carries
 *   news: a progress other than the node's or a message (a long image_download
 *   reports 42 %, 60 %, 75 %). The same status with nothing new is a duplicate.
 * - A report for an earlier phase is late and does not apply...
 * - ...except an early phase (up to `ipxe_boot`) after the node finished or
 *   failed: the machine is evidently installing again (a reprovision the
 *   server did not trigger, or a manual reboot into PXE), so it restarts.
 * - After a failure, only a restart (as above) or another failure applies.
 */
export function decidePhase(catalogue: PhaseCatalogue, current: NodePhaseState, report: PhaseReport): PhaseDecision {
  const next: NodePhaseState = { phase: report.phase, phaseStatus: report.status };
  if (report.status === 'failed' || catalogue.failure.includes(report.phase)) {
    return { apply: true, next, reason: 'failure' };
  }
  const currentFailed = current.phaseStatus === 'failed' || catalogue.failure.includes(current.phase);
  const reportIndex = phaseIndex(catalogue, report.phase);
  const currentIndex = phaseIndex(catalogue, current.phase);
  const finished =
    current.phase === catalogue.ordered[catalogue.ordered.length - 1] && current.phaseStatus === 'completed';
  if ((currentFailed || finished) && reportIndex <= phaseIndex(catalogue, 'ipxe_boot') && reportIndex >= 0) {
    return { apply: true, next, reason: 'restart' };
  }
  if (currentFailed) return { apply: false, reason: 'after_failure' };
  if (reportIndex > currentIndex) return { apply: true, next, reason: 'advance' };
  if (reportIndex < currentIndex) return { apply: false, reason: 'late' };
  if (statusRank(report.status) > statusRank(current.phaseStatus))
    return { apply: true, next, reason: 'same_phase_update' };
  if (report.status === 'in_progress' && current.phaseStatus === 'in_progress' && carriesNews(current, report))
    return { apply: true, next, reason: 'progress' };
  return { apply: false, reason: 'duplicate' };
}

function carriesNews(current: NodePhaseState, report: PhaseReport): boolean {
  const newProgress = report.progress !== undefined && report.progress !== null && report.progress !== current.progress;
  return newProgress || Boolean(report.message);
}

function statusRank(status: PhaseStatus | null): number {
  return status === null ? 0 : status === 'in_progress' ? 1 : 2;
}

/**
 * 0..100 through the catalogue, for progress bars. A phase in progress counts
 * as far as the installer said (`phaseProgress`, 0..100), else as half done, so
 * a long image_download moves the bar as it reports.
 */
export function catalogueProgress(
  catalogue: PhaseCatalogue,
  phase: string,
  status: PhaseStatus | null,
  phaseProgress: number | null = null,
): number {
  const index = phaseIndex(catalogue, phase);
  if (index < 0) return 0;
  const last = catalogue.ordered.length - 1;
  const inPhase = phaseProgress === null ? 0.5 : Math.min(100, Math.max(0, phaseProgress)) / 100;
  const done = index + (status === 'completed' ? 1 : status === 'in_progress' ? inPhase : 0);
  return Math.min(100, Math.round((done / (last + 1)) * 100));
}
