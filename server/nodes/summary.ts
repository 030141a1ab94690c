import type { SummaryRows } from '../store/nodes-summary.js';
import type { DeploymentSummary } from './schemas.js';

export type { DeploymentSummary } from './schemas.js';

/**
 * Counts per phase and reprovision status, nodes in progress, failures, and
 * install durations (from the start of the current install, i.e. the
 * reprovision start or registration, to the last update of a deployed node).
 */
export function deploymentSummary(rows: SummaryRows): DeploymentSummary {
  const seconds = rows.deployed.map((d) => (d.endedAt - d.startedAt) / 1000);
  return {
    total_nodes: Object.values(rows.byPhase).reduce((a, b) => a + b, 0),
    by_phase: rows.byPhase,
    by_reprovision_status: rows.byReprovisionStatus,
    in_progress: rows.inProgress.map((n) => ({
      id: n.id,
      hostname: n.hostname,
      mac: n.mac,
      phase: n.deploymentStatus,
      since: n.phaseStartedAt ? new Date(n.phaseStartedAt).toISOString() : null,
    })),
    failures: rows.failures.map(({ node, message }) => ({
      id: node.id,
      hostname: node.hostname,
      mac: node.mac,
      phase: node.deploymentStatus,
      message,
      at: new Date(node.lastUpdate).toISOString(),
    })),
    durations: {
      deployed_nodes: seconds.length,
      avg_seconds: seconds.length ? Math.round(seconds.reduce((a, b) => a + b, 0) / seconds.length) : null,
      min_seconds: seconds.length ? Math.round(Math.min(...seconds)) : null,
      max_seconds: seconds.length ? Math.round(Math.max(...seconds)) : null,
    },
  };
}
