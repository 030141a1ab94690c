/**
 * homeport's domain metrics: install phases, nodes, the watcher, cluster
 * formation and SSH. HTTP metrics live in ./registry, DHCP and TFTP register
 * their own. Label values are closed sets (typed below) and every series is
 * created at zero up front, so a scrape shows it before the first event and
 * `increase()` sees the first one.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { NodeCounts } from '../store/nodes-repo.js';

export const WATCHER_TICK_RESULTS = ['ok', 'error'] as const;
export type WatcherTickResult = (typeof WATCHER_TICK_RESULTS)[number];

export const CLUSTER_FORMATION_RESULTS = ['formed', 'failed', 'timeout'] as const;
export type ClusterFormationResult = (typeof CLUSTER_FORMATION_RESULTS)[number];

export const SSH_ERROR_KINDS = ['connect', 'auth', 'timeout', 'command', 'other'] as const;
export type SshErrorKind = (typeof SSH_ERROR_KINDS)[number];

/** What other modules (the watcher, cluster drivers) record into. */
export interface DomainMetrics {
  /** homeport_phase_reports_total{phase,status}: catalogue phases recorded, applied or not. */
  phaseReports: Counter<'phase' | 'status'>;
  /** homeport_watcher_ticks_total{result}: watcher runs. */
  watcherTicks: Counter<'result'>;
  /** homeport_watcher_tick_seconds: how long one watcher run took. */
  watcherTickSeconds: Histogram<string>;
  /** homeport_cluster_formations_total{result}: formation attempts by outcome. */
  clusterFormations: Counter<'result'>;
  /** homeport_ssh_errors_total{kind}: failed SSH operations. */
  sshErrors: Counter<'kind'>;
  /** Typed shorthands, so a caller cannot invent a label value. */
  recordWatcherTick(result: WatcherTickResult, seconds: number): void;
  recordClusterFormation(result: ClusterFormationResult): void;
  recordSshError(kind: SshErrorKind): void;
}

export interface DomainMetricsOptions {
  registry: Registry;
  /** The install phases, in order, and the failure phases: the label values the phase metrics start with. */
  catalogue: { ordered: readonly string[]; failure: readonly string[] };
  /** Read at scrape time for the node gauges; a failure leaves them empty for that scrape. */
  countNodes: () => Promise<NodeCounts>;
  onCollectError?: (err: unknown) => void;
}

export function createDomainMetrics({
  registry,
  catalogue,
  countNodes,
  onCollectError,
}: DomainMetricsOptions): DomainMetrics {
  const registers = [registry];
  const phaseReports = new Counter({
    name: 'homeport_phase_reports_total',
    help: 'Install phase reports recorded (applied, late or duplicate), by phase and status',
    labelNames: ['phase', 'status'] as const,
    registers,
  });
  const watcherTicks = new Counter({
    name: 'homeport_watcher_ticks_total',
    help: 'Watcher runs, by result',
    labelNames: ['result'] as const,
    registers,
  });
  const watcherTickSeconds = new Histogram({
    name: 'homeport_watcher_tick_seconds',
    help: 'Duration of one watcher run',
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  const clusterFormations = new Counter({
    name: 'homeport_cluster_formations_total',
    help: 'Cluster formation attempts, by result',
    labelNames: ['result'] as const,
    registers,
  });
  const sshErrors = new Counter({
    name: 'homeport_ssh_errors_total',
    help: 'Failed SSH operations, by kind',
    labelNames: ['kind'] as const,
    registers,
  });
  for (const result of WATCHER_TICK_RESULTS) watcherTicks.inc({ result }, 0);
  for (const result of CLUSTER_FORMATION_RESULTS) clusterFormations.inc({ result }, 0);
  for (const kind of SSH_ERROR_KINDS) sshErrors.inc({ kind }, 0);
  for (const phase of [...catalogue.ordered, ...catalogue.failure])
    for (const status of ['in_progress', 'completed', 'failed']) phaseReports.inc({ phase, status }, 0);
  registerNodeGauges(registry, countNodes, onCollectError);
  return {
    phaseReports,
    watcherTicks,
    watcherTickSeconds,
    clusterFormations,
    sshErrors,
    recordWatcherTick(result, seconds) {
      watcherTicks.inc({ result });
      watcherTickSeconds.observe(seconds);
    },
    recordClusterFormation: (result) => clusterFormations.inc({ result }),
    recordSshError: (kind) => sshErrors.inc({ kind }),
  };
}

/**
 * homeport_nodes{phase,status} and homeport_nodes_reprovision{status}: read
 * from the store at scrape time, so they are right across restarts and across
 * several instances on one database.
 */
function registerNodeGauges(
  registry: Registry,
  countNodes: () => Promise<NodeCounts>,
  onCollectError?: (err: unknown) => void,
): void {
  // The registry collects metrics concurrently: both gauges share one query per scrape.
  let inFlight: Promise<NodeCounts | null> | null = null;
  const read = () =>
    (inFlight ??= countNodes()
      .catch((err: unknown) => {
        onCollectError?.(err);
        return null;
      })
      .finally(() => (inFlight = null)));
  new Gauge({
    name: 'homeport_nodes',
    help: 'Nodes by current install phase and phase status (none: not reported yet)',
    labelNames: ['phase', 'status'] as const,
    registers: [registry],
    async collect() {
      // Reset first: a phase no node is in any more must disappear, not keep its last count.
      this.reset();
      for (const c of (await read())?.byPhase ?? []) this.set({ phase: c.phase, status: c.status ?? 'none' }, c.count);
    },
  });
  new Gauge({
    name: 'homeport_nodes_reprovision',
    help: 'Nodes by reprovision status (none: never reprovisioned)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of (await read())?.byReprovisionStatus ?? []) this.set({ status: c.status ?? 'none' }, c.count);
    },
  });
}
