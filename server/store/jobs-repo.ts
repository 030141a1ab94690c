import type { Knex } from 'knex';
import { nullableNumber, nullableString } from './rows.js';

export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled' | 'paused';
export const JOB_STATUSES: readonly JobStatus[] = ['pending', 'running', 'completed', 'failed', 'cancelled', 'paused'];

export type StageState = 'pending' | 'running' | 'waiting' | 'completed' | 'failed' | 'skipped';

/** One named step of a job, kept on the job so a retry resumes after the last completed one. */
export interface JobStage {
  name: string;
  state: StageState;
  percent: number | null;
  message: string | null;
  /** What the stage needs to resume (e.g. the round a batch started). */
  data: Record<string, unknown>;
  startedAt: number | null;
  endedAt: number | null;
}

export interface Job {
  id: number;
  type: string;
  params: Record<string, unknown>;
  status: JobStatus;
  runAt: number;
  claimedBy: string | null;
  leaseUntil: number | null;
  attempts: number;
  maxAttempts: number | null;
  stage: string | null;
  percent: number | null;
  message: string | null;
  stages: JobStage[];
  log: string;
  cancelRequested: boolean;
  cluster: string | null;
  nodeIds: number[];
  result: unknown;
  error: string | null;
  dedupeKey: string | null;
  createdAt: number;
  updatedAt: number;
  startedAt: number | null;
  finishedAt: number | null;
}

/** The console log keeps its newest part: enough to see what ran and why it stopped. */
export const JOB_LOG_LIMIT = 64 * 1024;

function parseJson(value: unknown): unknown {
  if (typeof value !== 'string') return null;
  try {
    return JSON.parse(value);
  } catch {
    return null;
  }
}

function rowToJob(row: Record<string, unknown>): Job {
  return {
    id: Number(row.id),
    type: String(row.type),
    params: (parseJson(row.params) as Record<string, unknown> | null) ?? {},
    status: row.status as JobStatus,
    runAt: Number(row.run_at),
    claimedBy: nullableString(row.claimed_by),
    leaseUntil: nullableNumber(row.lease_until),
    attempts: Number(row.attempts),
    maxAttempts: nullableNumber(row.max_attempts),
    stage: nullableString(row.stage),
    percent: nullableNumber(row.percent),
    message: nullableString(row.message),
    stages: (parseJson(row.stages) as JobStage[] | null) ?? [],
    log: (row.log as string | null) ?? '',
    cancelRequested: Boolean(row.cancel_requested),
    cluster: nullableString(row.cluster),
    nodeIds: String(row.node_ids ?? '')
      .split(',')
      .filter(Boolean)
      .map(Number),
    result: parseJson(row.result),
    error: nullableString(row.error),
    dedupeKey: nullableString(row.dedupe_key),
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    startedAt: nullableNumber(row.started_at),
    finishedAt: nullableNumber(row.finished_at),
  };
}

export interface NewJob {
  type: string;
  params?: Record<string, unknown>;
  runAt?: number;
  /** At most one job ever exists per key: enqueueing it again returns the existing job. */
  dedupeKey?: string;
  /** Stage names known up front, shown as pending until they run. */
  stages?: string[];
  maxAttempts?: number;
  cluster?: string | null;
  nodeIds?: number[];
}

export interface JobFilter {
  type?: string;
  status?: JobStatus;
  nodeId?: number;
  cluster?: string;
  limit?: number;
  offset?: number;
}

/** What a running job's owner writes back: progress, stages, log. Leaves out what it does not change. */
export interface JobProgress {
  stage?: string | null;
  percent?: number | null;
  message?: string | null;
  stages?: JobStage[];
  log?: string;
}

/** How a run ends: a final status, or back to pending (retry later, or wait and re-check). */
export type JobOutcome =
  | { status: 'completed'; result?: unknown }
  | { status: 'failed' | 'cancelled' | 'paused'; error: string; result?: unknown }
  | { status: 'pending'; runAt: number; error?: string | null; countAttempt: boolean };

export const newStage = (name: string): JobStage => ({
  name,
  state: 'pending',
  percent: null,
  message: null,
  data: {},
  startedAt: null,
  endedAt: null,
});

/**
 * The jobs table and its atomic claim (seed 004). A claim is one UPDATE
 * statement over a sub-select, so two claimers racing on the same job cannot
 * both win: on PostgreSQL the sub-select takes the row with FOR UPDATE SKIP
 * LOCKED and the UPDATE re-checks the claimable condition; on SQLite the
 * single statement runs under the database's one write lock. Every write by
 * a runner is conditional on it still owning the job.
 */
export class JobsRepo {
  constructor(private readonly knex: Knex) {}

  async enqueue(job: NewJob, now: number): Promise<{ job: Job; created: boolean }> {
    const row = {
      type: job.type,
      params: JSON.stringify(job.params ?? {}),
      status: 'pending',
      run_at: job.runAt ?? now,
      dedupe_key: job.dedupeKey ?? null,
      stages: JSON.stringify((job.stages ?? []).map(newStage)),
      max_attempts: job.maxAttempts ?? null,
      cluster: job.cluster ?? null,
      node_ids: job.nodeIds?.length ? `,${job.nodeIds.join(',')},` : null,
      created_at: now,
      updated_at: now,
    };
    const query = this.knex('jobs').insert(row);
    if (job.dedupeKey) query.onConflict('dedupe_key').ignore();
    const inserted = (await query.returning('*')) as Record<string, unknown>[];
    if (inserted[0]) return { job: rowToJob(inserted[0]), created: true };
    const existing = await this.knex('jobs').where({ dedupe_key: job.dedupeKey }).first();
    return { job: rowToJob(existing), created: false };
  }

  async byId(id: number): Promise<Job | null> {
    const row = await this.knex('jobs').where({ id }).first();
    return row ? rowToJob(row) : null;
  }

  async list(filter: JobFilter = {}): Promise<Job[]> {
    const query = this.filtered(filter)
      .orderBy('id', 'desc')
      .limit(filter.limit ?? 100)
      .offset(filter.offset ?? 0);
    return (await query).map(rowToJob);
  }

  async count(filter: JobFilter = {}): Promise<number> {
    const row = (await this.filtered(filter).count({ n: '*' }).first()) as { n: number | string } | undefined;
    return Number(row?.n ?? 0);
  }

  private filtered(filter: JobFilter): Knex.QueryBuilder {
    const query = this.knex('jobs');
    if (filter.type) query.where('type', filter.type);
    if (filter.status) query.where('status', filter.status);
    if (filter.cluster) query.where('cluster', filter.cluster);
    if (filter.nodeId !== undefined) query.where('node_ids', 'like', `%,${filter.nodeId},%`);
    return query;
  }

  /**
   * Claims the oldest due job (pending and due, or running with an expired
   * lease: its claimer died). Returns null when there is none or another
   * claimer won the race.
   */
  async claim(workerId: string, now: number, leaseMs: number, types?: string[]): Promise<Job | null> {
    const claimable = (q: Knex.QueryBuilder) =>
      q
        .where((w) => w.where('status', 'pending').andWhere('run_at', '<=', now))
        .orWhere((w) => w.where('status', 'running').andWhere('lease_until', '<', now));
    const candidate = this.knex('jobs').select('id').where(claimable).orderBy('run_at').orderBy('id').limit(1);
    if (types?.length) candidate.whereIn('type', types);
    if (this.knex.client.config.client === 'pg') candidate.forUpdate().skipLocked();
    const rows = (await this.knex('jobs')
      // A scalar `id = (sub-select)` runs once (an InitPlan). With `id IN (...)`
      // PostgreSQL may re-run the LIMIT 1 SKIP LOCKED sub-select per row and
      // claim every pending job at once (the store test caught exactly that).
      .where('id', candidate)
      .andWhere(claimable)
      .update({
        status: 'running',
        claimed_by: workerId,
        lease_until: now + leaseMs,
        attempts: this.knex.raw('attempts + 1'),
        started_at: this.knex.raw('coalesce(started_at, ?)', [now]),
        updated_at: now,
      })
      .returning('*')) as Record<string, unknown>[];
    return rows[0] ? rowToJob(rows[0]) : null;
  }

  /**
   * Extends the lease and records progress. Returns the job as stored (so the
   * runner sees a cancel request), or null when this worker no longer owns it.
   */
  async heartbeat(
    id: number,
    workerId: string,
    now: number,
    leaseMs: number,
    progress: JobProgress = {},
  ): Promise<Job | null> {
    const rows = (await this.knex('jobs')
      .where({ id, claimed_by: workerId, status: 'running' })
      .update({ lease_until: now + leaseMs, updated_at: now, ...progressColumns(progress) })
      .returning('*')) as Record<string, unknown>[];
    return rows[0] ? rowToJob(rows[0]) : null;
  }

  async finish(
    id: number,
    workerId: string,
    now: number,
    outcome: JobOutcome,
    progress: JobProgress = {},
  ): Promise<boolean> {
    const ending =
      outcome.status === 'pending'
        ? {
            run_at: outcome.runAt,
            error: outcome.error ?? null,
            claimed_by: null,
            ...(outcome.countAttempt ? {} : { attempts: this.knex.raw('attempts - 1') }),
          }
        : {
            result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
            error: 'error' in outcome ? outcome.error : null,
            finished_at: now,
          };
    const changed = await this.knex('jobs')
      .where({ id, claimed_by: workerId, status: 'running' })
      .update({ status: outcome.status, lease_until: null, updated_at: now, ...progressColumns(progress), ...ending });
    return changed > 0;
  }

  /**
   * An admin's cancel: a job that is not running ends at once; a running one
   * gets the request and stops at its next stage boundary. Null when the job
   * does not exist; the job unchanged when it had already ended.
   */
  async requestCancel(id: number, now: number): Promise<Job | null> {
    await this.knex('jobs').where({ id }).whereIn('status', ['pending', 'paused']).update({
      status: 'cancelled',
      error: 'cancelled by an admin before it ran on',
      finished_at: now,
      updated_at: now,
    });
    await this.knex('jobs').where({ id, status: 'running' }).update({ cancel_requested: true, updated_at: now });
    return this.byId(id);
  }

  /**
   * An admin's retry of a failed, paused or cancelled job: pending again now,
   * with a fresh set of attempts; its completed stages stay completed, so it
   * resumes where it stopped. False when the job is not in such a state.
   */
  async retry(id: number, now: number): Promise<boolean> {
    const changed = await this.knex('jobs').where({ id }).whereIn('status', ['failed', 'paused', 'cancelled']).update({
      status: 'pending',
      run_at: now,
      attempts: 0,
      cancel_requested: false,
      error: null,
      finished_at: null,
      claimed_by: null,
      lease_until: null,
      updated_at: now,
    });
    return changed > 0;
  }
}

function progressColumns(progress: JobProgress): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  if (progress.stage !== undefined) columns.stage = progress.stage;
  if (progress.percent !== undefined) columns.percent = progress.percent;
  if (progress.message !== undefined) columns.message = progress.message;
  if (progress.stages !== undefined) columns.stages = JSON.stringify(progress.stages);
  if (progress.log !== undefined) columns.log = progress.log;
  return columns;
}
