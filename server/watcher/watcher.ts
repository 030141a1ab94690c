import { nodeAddress } from '../nodes/address.js';
import cron, { type ScheduledTask } from 'node-cron';
import type { ClustersService } from '../cluster/service.js';
import type { Logger } from '../log/logger.js';
import type { WatcherTickResult } from '../metrics/domain.js';
import type { Clock } from '../kernel/clock.js';
import type { NodesService } from '../nodes/service.js';
import type { WatcherSettings } from './config.js';
import { REPROVISION_EVENT } from '../nodes/lifecycle.js';
import type { Node } from '../store/nodes-repo.js';
import { decideNode } from './decide.js';
import type { JobRunner } from '../jobs/runner.js';
import type { LeaderLease } from '../store/leader-lease.js';
import type { ReadinessCheck, ReadinessRequirements } from './readiness.js';

export interface WatcherOptions {
  nodes: NodesService;
  clusters: ClustersService;
  lease: LeaderLease;
  runner: JobRunner;
  readiness: ReadinessCheck;
  /** What a node of this cluster must pass to be ready (SSH, the cluster driver's service ports). */
  readinessFor: (cluster: string | null) => ReadinessRequirements;
  settings: WatcherSettings;
  clock: Clock;
  log: Logger;
  recordTick?: (result: WatcherTickResult, seconds: number) => void;
}

export interface TickReport {
  /** False: another instance holds the lease, this one only ran jobs. */
  leader: boolean;
  timedOut: number[];
  completed: number[];
  notReady: { id: number; detail: string }[];
  queued: { cluster: string; job: number }[];
  jobsRun: number;
}

/** Readiness checks at once; each may wait for its SSH timeout. */
const CHECK_CONCURRENCY = 16;

/**
 * Seed 000's monitor, every 30 s: times out slow nodes, moves installed and
 * ready nodes to `completed`, and queues one formation per cluster and round
 * when all its nodes are done. Only the holder of the leader lease acts;
 * every instance runs claimed jobs. tick() can be called directly.
 */
export class Watcher {
  private task: ScheduledTask | null = null;
  private running: Promise<TickReport> | null = null;

  constructor(private readonly o: WatcherOptions) {}

  start(): void {
    if (this.task) return;
    this.task = cron.createTask(this.o.settings.schedule, () => this.scheduledTick(), {
      name: 'homeport-watcher',
      noOverlap: true,
    });
    void this.task.start();
    this.o.log.info({ schedule: this.o.settings.schedule, instance: this.o.lease.holder }, 'watcher started');
  }

  /** Stops the schedule, waits for a running tick, stops jobs, and hands the lease over. */
  async stop(): Promise<void> {
    await this.task?.destroy();
    this.task = null;
    await this.running?.catch(() => undefined);
    await this.o.runner.stop();
    await this.o.lease
      .release()
      .catch((err: unknown) => this.o.log.warn({ err }, 'could not release the watcher lease'));
  }

  /** One watcher run; with waitForJobs (tests, default) it also waits for the jobs it queued. */
  async tick(options: { waitForJobs?: boolean } = {}): Promise<TickReport> {
    // Overlapping calls (a slow tick, a test calling in parallel) share one run per instance.
    this.running ??= this.watch().finally(() => (this.running = null));
    const report = await this.running;
    if (options.waitForJobs === false) this.o.runner.kick();
    else report.jobsRun = await this.o.runner.drain();
    return report;
  }

  private async scheduledTick(): Promise<void> {
    try {
      await this.tick({ waitForJobs: false });
    } catch (err) {
      this.o.log.error({ err }, 'watcher tick failed');
    }
  }

  private async watch(): Promise<TickReport> {
    const started = performance.now();
    const report: TickReport = { leader: false, timedOut: [], completed: [], notReady: [], queued: [], jobsRun: 0 };
    try {
      report.leader = await this.o.lease.acquire(this.o.clock(), this.o.settings.leaseMs);
      if (report.leader) {
        await this.checkNodes(report);
        await this.queueFormations(report);
      }
      this.o.recordTick?.('ok', (performance.now() - started) / 1000);
      return report;
    } catch (err) {
      this.o.recordTick?.('error', (performance.now() - started) / 1000);
      throw err;
    }
  }

  private async checkNodes(report: TickReport): Promise<void> {
    const nodes = await this.o.nodes.list({ reprovisionStatus: 'in_progress' });
    for (let i = 0; i < nodes.length; i += CHECK_CONCURRENCY) {
      await Promise.all(nodes.slice(i, i + CHECK_CONCURRENCY).map((node) => this.checkNode(node, report)));
    }
  }

  private async checkNode(node: Node, report: TickReport): Promise<void> {
    const installed =
      this.o.nodes.isDeployed(node.deploymentStatus, node.deploymentPhaseStatus) ||
      node.status === 'post-install-complete';
    const verdict = decideNode(node, installed, this.o.clock(), this.o.settings.reprovisionTimeoutMin);
    if (verdict.action === 'wait') return;
    if (verdict.action === 'timeout') {
      if (
        await this.markTimeout(
          node,
          `timeout: not installed within ${verdict.minutes} min (last phase ${node.deploymentStatus})`,
        )
      )
        report.timedOut.push(node.id);
      return;
    }
    const address = nodeAddress(node);
    if (!address) {
      report.notReady.push({ id: node.id, detail: 'no IP address to check' });
      return;
    }
    const readiness = await this.o.readiness(address, this.o.readinessFor(node.cluster));
    if (readiness.ready) {
      const changed = await this.o.nodes.applyLifecycle({
        nodeId: node.id,
        expect: ['in_progress'],
        changes: { reprovisionStatus: 'completed' },
        history: {
          phase: REPROVISION_EVENT,
          status: 'completed',
          message: `ready: ${readiness.detail}`,
          source: 'watcher',
        },
      });
      if (changed) report.completed.push(node.id);
      return;
    }
    report.notReady.push({ id: node.id, detail: readiness.detail });
    if (verdict.overdue && (await this.markTimeout(node, `timeout: installed but not ready (${readiness.detail})`)))
      report.timedOut.push(node.id);
  }

  private async markTimeout(node: Node, message: string): Promise<boolean> {
    const changed = await this.o.nodes.applyLifecycle({
      nodeId: node.id,
      expect: ['in_progress'],
      changes: { reprovisionStatus: 'timeout' },
      history: { phase: REPROVISION_EVENT, status: 'failed', message, source: 'watcher' },
    });
    if (changed) this.o.log.warn({ node: node.id, hostname: node.hostname, message }, 'reprovision timed out');
    return changed !== null;
  }

  /** Every cluster with a completed node is a candidate; formWhenReady decides and dedupes. */
  private async queueFormations(report: TickReport): Promise<void> {
    const completed = await this.o.nodes.list({ reprovisionStatus: 'completed' });
    const clusters = [...new Set(completed.flatMap((n) => (n.cluster ? [n.cluster] : [])))];
    for (const cluster of clusters) {
      const request = await this.o.clusters.formWhenReady(cluster);
      if (request.ok && request.created) report.queued.push({ cluster, job: request.job.id });
    }
  }
}
