import type { Knex } from 'knex';

export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

export interface Job {
  id: number;
  type: string;
  params: Record<string, unknown>;
  status: JobStatus;
  runAt: number;
  claimedBy: string | null;
  leaseUntil: number | null;
  attempts: number;
  stage: string | null;
  percent: number | null;
  message: string | null;
  result: unknown;
  error: string | null;
  dedupeKey: string | null;
  createdAt: number;
  updatedAt: number;
}

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
    claimedBy: (row.claimed_by as string | null) ?? null,
    leaseUntil: row.lease_until === null || row.lease_until === undefined ? null : Number(row.lease_until),
    attempts: Number(row.attempts),
    stage: (row.stage as string | null) ?? null,
    percent: row.percent === null || row.percent === undefined ? null : Number(row.percent),
    message: (row.message as string | null) ?? null,
    result: parseJson(row.result),
    error: (row.error as string | null) ?? null,
    dedupeKey: (row.dedupe_key as string | null) ?? null,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
  };
}

export interface NewJob {
  type: string;
  params?: Record<string, unknown>;
  runAt?: number;
  /** At most one job ever exists per key: enqueueing it again returns the existing job. */
  dedupeKey?: string;
}

/**
 * The jobs table and its atomic claim (seed 004). A claim is one UPDATE
 * statement over a sub-select, so two claimers racing on the same job cannot
 * both win: on PostgreSQL the sub-select takes the row with FOR UPDATE SKIP
 * LOCKED and the UPDATE re-checks the claimable condition; on SQLite the
 * single statement runs under the database's one write lock.
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

  async list(filter: { type?: string; status?: JobStatus; limit?: number } = {}): Promise<Job[]> {
    const query = this.knex('jobs').orderBy('id', 'desc').limit(filter.limit ?? 100);
    if (filter.type) query.where('type', filter.type);
    if (filter.status) query.where('status', filter.status);
    return (await query).map(rowToJob);
  }

  /**
   * Claims the oldest due job (pending and due, or running with an expired
   * lease: its claimer died). Returns null when there is none or another
   * claimer won the race.
   */
  async claim(workerId: string, now: number, leaseMs: number, types?: string[]): Promise<Job | null> {
    const claimable = (q: Knex.QueryBuilder) =>
      q.where((w) => w.where('status', 'pending').andWhere('run_at', '<=', now)).orWhere((w) => w.where('status', 'running').andWhere('lease_until', '<', now));
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
        updated_at: now,
      })
      .returning('*')) as Record<string, unknown>[];
    return rows[0] ? rowToJob(rows[0]) : null;
  }

  /** Extends the lease and records progress; false when this worker no longer owns the job. */
  async heartbeat(id: number, workerId: string, now: number, leaseMs: number, progress: { stage?: string; percent?: number; message?: string } = {}): Promise<boolean> {
    const changed = await this.knex('jobs')
      .where({ id, claimed_by: workerId, status: 'running' })
      .update({ lease_until: now + leaseMs, updated_at: now, stage: progress.stage, percent: progress.percent, message: progress.message });
    return changed > 0;
  }

  async finish(id: number, workerId: string, now: number, outcome: { status: 'completed' | 'failed'; result?: unknown; error?: string }): Promise<boolean> {
    const changed = await this.knex('jobs')
      .where({ id, claimed_by: workerId, status: 'running' })
      .update({
        status: outcome.status,
        result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
        error: outcome.error ?? null,
        lease_until: null,
        updated_at: now,
      });
    return changed > 0;
  }
}
