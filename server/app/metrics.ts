import type { DomainMetrics } from '../metrics/domain.js';
import { isKnownPhase, type PhaseCatalogue } from '../nodes/phases.js';
import type { NodeEventSource } from '../nodes/service.js';

/**
 * Counts phase reports from the nodes service's events (emitted after commit).
 * Non-phase history events (e.g. dhcp_discover) are not phase reports.
 */
export function countPhaseReports(
  events: NodeEventSource,
  metrics: Pick<DomainMetrics, 'phaseReports'>,
  catalogue: PhaseCatalogue,
): void {
  events.on('change', (event) => {
    if (event.type !== 'phase' || !isKnownPhase(catalogue, event.entry.phase)) return;
    metrics.phaseReports.inc({ phase: event.entry.phase, status: event.entry.status });
  });
}
