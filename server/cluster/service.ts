import { EventEmitter } from 'node:events';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import type { ClusterFormationResult } from '../metrics/domain.js';
import type { Clock } from '../kernel/clock.js';
import type { NodesService } from '../nodes/service.js';
import { nameField } from '../nodes/validation.js';
import type { ClustersSettings } from './config.js';
import { FORMATION_EVENT } from '../nodes/lifecycle.js';
import type { JobsService } from '../jobs/service.js';
import type { Job } from '../store/jobs-repo.js';
import type { Node } from '../store/nodes-repo.js';
import { JobCancelled, type JobContext, type JobType } from '../jobs/types.js';
import type { ClusterDriver } from './driver.js';
import { clusterVerdict, formationKey, type ClusterVerdict } from './plan.js';
import type { ClusterRow, ClustersRepo } from '../store/clusters-repo.js';

export const FORM_CLUSTER_JOB = 'form_cluster';

const formationParams = z.object({ cluster: nameField, round: z.number().int().min(0) }).strict();
type FormationParams = z.infer<typeof formationParams>;

export interface ClusterEvent {
  type: 'cluster';
  cluster: ClusterRow;
}

export interface ClusterOverview extends ClusterRow {
  configured: boolean;
  nodes: number;
  byStatus: Record<string, number>;
  /** Why it is (not) forming now. */
  verdict: string;
  lastJob: Job | null;
}

export interface ClustersServiceOptions {
  clusters: ClustersRepo;
  jobs: JobsService;
  nodes: NodesService;
  settings: ClustersSettings;
  driverFor: (cluster: string) => ClusterDriver | null;
  clock: Clock;
  log: Logger;
  recordFormation?: (result: ClusterFormationResult) => void;
  /** Runs of a failing formation (and runners that died) before the cluster is `error`. */
  maxAttempts: number;
}

export type FormationRequest = { ok: true; job: Job; created: boolean } | { ok: false; reason: string };

/**
 * Clusters: their rows, when one may be formed, the form_cluster job and what
 * its outcome does to the nodes (seed 000 steps 11-12). Emits `change` for
 * the status page.
 */
export class ClustersService {
  readonly events = new EventEmitter<{ change: [ClusterEvent] }>();

  constructor(private readonly o: ClustersServiceOptions) {}

  /** Writes each configured cluster's driver and expected node count into its row. */
  async syncConfig(): Promise<void> {
    for (const [name, settings] of Object.entries(this.o.settings)) {
      await this.o.clusters.upsertConfigured(
        name,
        { driver: settings.driver, expectedNodes: settings.expectedNodes ?? null },
        this.o.clock(),
      );
    }
  }

  async verdict(name: string): Promise<ClusterVerdict> {
    return clusterVerdict(await this.o.nodes.list({ cluster: name }), this.o.settings[name]?.expectedNodes);
  }

  /**
   * The watcher's call: enqueue one formation for this round when the
   * cluster is ready. The dedupe key holds the round, so however often (and
   * from however many instances) this runs, a round is formed once.
   */
  async formWhenReady(name: string): Promise<FormationRequest> {
    if (!this.o.settings[name]) return { ok: false, reason: await this.markUnconfigured(name) };
    const verdict = await this.verdict(name);
    if (!verdict.form) return { ok: false, reason: verdict.reason };
    return this.enqueue(name, verdict.round, undefined);
  }

  /**
   * The admin's call (retry after a failure, or a manual trigger): like the
   * watcher's, but after a finished job of this round a new one is enqueued.
   */
  async requestFormation(name: string): Promise<FormationRequest> {
    if (!this.o.settings[name])
      return { ok: false, reason: `cluster ${name} is not configured (clusters.${name}.driver)` };
    const verdict = await this.verdict(name);
    if (!verdict.form) return { ok: false, reason: verdict.reason };
    const last = await this.lastJob(name, verdict.round);
    if (last && (last.status === 'pending' || last.status === 'running'))
      return { ok: true, job: last, created: false };
    // Nodes still wait to join, so the last job of this round failed or was skipped: a new key runs it again.
    return this.enqueue(name, verdict.round, last?.id);
  }

  async overview(): Promise<ClusterOverview[]> {
    const rows = new Map((await this.o.clusters.list()).map((r) => [r.name, r]));
    const nodes = await this.o.nodes.list({});
    const names = new Set([
      ...rows.keys(),
      ...Object.keys(this.o.settings),
      ...nodes.flatMap((n) => (n.cluster ? [n.cluster] : [])),
    ]);
    const result: ClusterOverview[] = [];
    for (const name of [...names].sort()) {
      const members = nodes.filter((n) => n.cluster === name);
      const row = rows.get(name) ?? placeholderRow(name, this.o.settings[name]?.driver);
      const verdict = clusterVerdict(members, this.o.settings[name]?.expectedNodes);
      result.push({
        ...row,
        configured: Boolean(this.o.settings[name]),
        nodes: members.length,
        byStatus: countStatuses(members),
        verdict: verdict.form ? 'ready to form' : verdict.reason,
        lastJob: await this.lastJob(name),
      });
    }
    return result;
  }

  /** Puts the cluster back to pending at the start of a reprovision round. */
  async resetForRound(name: string): Promise<void> {
    await this.setState(name, 'pending', { lastError: null });
  }

  /** The form_cluster job: re-check, form through the driver, record; a failure is retried up to the job's attempts. */
  get jobType(): JobType<FormationParams> {
    return {
      type: FORM_CLUSTER_JOB,
      params: formationParams,
      stages: () => ['check', 'form', 'record'],
      targets: async (params) => ({
        cluster: params.cluster,
        nodeIds: (await this.o.nodes.list({ cluster: params.cluster })).map((n) => n.id),
      }),
      maxAttempts: this.o.maxAttempts,
      run: (params, ctx) => this.runFormation(params, ctx),
    };
  }

  private async runFormation({ cluster: name, round }: FormationParams, ctx: JobContext): Promise<unknown> {
    const driver = this.o.driverFor(name);
    if (!driver) throw new Error(`cluster ${name} is not configured (clusters.${name}.driver)`);
    // Seed 004: a job re-checks its conditions when it runs, not when it was queued.
    const verdict = await this.verdict(name);
    if (!verdict.form || verdict.round !== round) {
      const reason = verdict.form ? `superseded by round ${verdict.round}` : verdict.reason;
      ctx.log(`nothing to do: ${reason}`);
      this.o.log.info({ cluster: name, round, reason }, 'formation skipped');
      return { skipped: reason };
    }
    await ctx.stage('check', async () => ({
      members: verdict.members.map((m) => m.hostname),
      joining: verdict.joining,
    }));
    await this.setState(name, 'forming', { lastError: null, driver: driver.name });
    this.o.log.info(
      { cluster: name, round, driver: driver.name, members: verdict.members.map((m) => m.hostname) },
      'forming cluster',
    );
    try {
      const formed = await ctx.stage('form', async () => {
        const result = await driver.form({
          cluster: name,
          members: verdict.members,
          signal: ctx.signal,
          progress: (step, percent) => ctx.progress({ message: step, percent }),
        });
        for (const step of result.steps) ctx.log(step);
        return { steps: result.steps };
      });
      const steps = formed.steps as string[];
      await ctx.stage('record', () => this.recordFormed(name, verdict.joining, steps));
      return { steps };
    } catch (err) {
      if (err instanceof JobCancelled)
        await this.setState(name, 'error', {
          lastError: `formation job ${ctx.job.id} was cancelled by an admin; form it again with POST /api/clusters/${name}/form`,
        });
      else if (!ctx.signal.aborted) await this.recordFailed(name, verdict.joining, (err as Error).message, ctx);
      throw err;
    }
  }

  private async recordFormed(name: string, joining: number[], steps: string[]): Promise<void> {
    for (const id of joining) {
      await this.o.nodes.applyLifecycle({
        nodeId: id,
        expect: ['completed'],
        changes: { reprovisionStatus: 'clustered' },
        history: { phase: FORMATION_EVENT, status: 'completed', message: `in cluster ${name}`, source: 'watcher' },
      });
    }
    await this.setState(name, 'formed', { lastError: null, formedAt: this.o.clock() });
    this.o.recordFormation?.('formed');
    this.o.log.info({ cluster: name, steps }, 'cluster formed');
  }

  /**
   * Nodes stay completed (they are installed and ready). While attempts are
   * left the cluster stays forming with the error; after the last it is `error`.
   */
  private async recordFailed(name: string, joining: number[], message: string, ctx: JobContext): Promise<void> {
    const attempt = `attempt ${ctx.attempt} of ${this.o.maxAttempts}`;
    for (const id of joining) {
      await this.o.nodes.applyLifecycle({
        nodeId: id,
        expect: ['completed'],
        changes: {},
        history: {
          phase: FORMATION_EVENT,
          status: 'failed',
          message: `${attempt}: ${message}`.slice(0, 2000),
          source: 'watcher',
        },
      });
    }
    if (!ctx.finalAttempt) {
      await this.setState(name, 'forming', { lastError: `${attempt} failed, retrying: ${message}` });
      return void this.o.log.warn(
        { cluster: name, err: message, attempt: ctx.attempt },
        'cluster formation attempt failed, will retry',
      );
    }
    await this.setState(name, 'error', { lastError: message });
    this.o.recordFormation?.(/did not finish within|gave up after/.test(message) ? 'timeout' : 'failed');
    this.o.log.warn({ cluster: name, err: message }, 'cluster formation failed');
  }

  private async enqueue(name: string, round: number, afterJobId: number | undefined): Promise<FormationRequest> {
    const { job, created } = await this.o.jobs.create(
      FORM_CLUSTER_JOB,
      { cluster: name, round },
      { dedupeKey: formationKey(name, round, afterJobId) },
    );
    if (created) {
      await this.setState(name, 'forming', { lastError: null });
      this.o.log.info({ cluster: name, round, job: job.id }, 'cluster formation queued');
    }
    return { ok: true, job, created };
  }

  /** The newest form_cluster job of this cluster (and round, when given). */
  private async lastJob(name: string, round?: number): Promise<Job | null> {
    // Newest first: without a round the first one is the answer; a round's jobs are among the recent ones.
    const { jobs } = await this.o.jobs.list({
      type: FORM_CLUSTER_JOB,
      cluster: name,
      limit: round === undefined ? 1 : 1000,
    });
    return jobs.find((j) => round === undefined || Number(j.params.round) === round) ?? null;
  }

  private async markUnconfigured(name: string): Promise<string> {
    const reason = `cluster ${name} is not configured (clusters.${name}.driver)`;
    const row = await this.o.clusters.byName(name);
    if (row?.lastError !== reason) await this.setState(name, 'error', { lastError: reason });
    return reason;
  }

  private async setState(
    name: string,
    state: ClusterRow['state'],
    fields: { lastError?: string | null; formedAt?: number | null; driver?: string },
  ): Promise<void> {
    const cluster = await this.o.clusters.setState(
      name,
      state,
      { driver: this.o.settings[name]?.driver, ...fields },
      this.o.clock(),
    );
    this.events.emit('change', { type: 'cluster', cluster });
  }
}

function countStatuses(nodes: readonly Node[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const n of nodes) counts[n.reprovisionStatus ?? 'none'] = (counts[n.reprovisionStatus ?? 'none'] ?? 0) + 1;
  return counts;
}

function placeholderRow(name: string, driver: string | undefined): ClusterRow {
  return {
    id: 0,
    name,
    driver: driver ?? 'none',
    state: 'pending',
    expectedNodes: null,
    lastError: null,
    formedAt: null,
    createdAt: 0,
    updatedAt: 0,
  };
}
