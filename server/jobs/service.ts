import { EventEmitter } from 'node:events';
import type { Logger } from '../log/logger.js';
import type { Clock } from '../kernel/clock.js';
import type { Job, JobFilter, JobsRepo } from '../store/jobs-repo.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { conflict, notFound, ValidationError } from '../kernel/errors.js';
import { parseWith } from '../http/validation.js';
import { JobTargetError, type AnyJobType } from './types.js';

const SETTLE_POLL_MS = 50;

export interface CreateJobOptions {
  /** Not before this time (ms since the epoch); now when left out. */
  runAt?: number;
  /** At most one job per key ever (e.g. one formation per cluster round). */
  dedupeKey?: string;
}

/**
 * The one way jobs are created, listed, cancelled and retried (API, CLI,
 * watcher, other domains): validates params with the job type's schema,
 * records its stages and targets, and wakes the runner. Emits `change` for
 * the status page.
 */
export class JobsService {
  readonly events = new EventEmitter<{ change: [Job] }>();
  private readonly registry = new Map<string, AnyJobType>();
  private wake: () => void = () => undefined;

  constructor(private readonly o: { repo: JobsRepo; clock: Clock; log: Logger }) {}

  register(...types: AnyJobType[]): void {
    for (const type of types) this.registry.set(type.type, type);
  }

  types(): AnyJobType[] {
    return [...this.registry.values()];
  }

  /** Called after a job becomes due (created, retried): the runner's kick. */
  onDue(wake: () => void): void {
    this.wake = wake;
  }

  async create(
    typeName: string,
    rawParams: unknown,
    options: CreateJobOptions = {},
  ): Promise<{ job: Job; created: boolean }> {
    const type = this.registry.get(typeName);
    if (!type) throw new ValidationError('type', `must be one of ${[...this.registry.keys()].sort().join(', ')}`);
    const params = parseWith(type.params, rawParams ?? {}, 'params') as Record<string, unknown>;
    const targets = await this.targetsOf(type, params);
    const now = this.o.clock();
    const result = await this.o.repo.enqueue(
      {
        type: typeName,
        params,
        runAt: options.runAt,
        dedupeKey: options.dedupeKey,
        stages: type.stages(params),
        maxAttempts: type.maxAttempts,
        cluster: targets.cluster ?? null,
        nodeIds: targets.nodeIds,
      },
      now,
    );
    if (result.created) {
      this.o.log.info(
        { job: result.job.id, type: typeName, runAt: new Date(result.job.runAt).toISOString() },
        'job created',
      );
      this.changed(result.job);
    }
    if (result.job.runAt <= now) this.wake();
    return result;
  }

  private async targetsOf(
    type: AnyJobType,
    params: Record<string, unknown>,
  ): Promise<{ nodeIds?: number[]; cluster?: string | null }> {
    try {
      return (await type.targets?.(params)) ?? {};
    } catch (err) {
      if (err instanceof JobTargetError)
        throw err.status === 404 ? notFound(`${err.message}; nothing was changed`) : conflict(err.message);
      throw err;
    }
  }

  /** Resolves when the job has ended (or is waiting, paused), or with its state at the deadline. */
  async settled(id: number, timeoutMs: number): Promise<Job | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.o.repo.byId(id);
      const busy =
        job &&
        (job.status === 'running' ||
          (job.status === 'pending' && job.runAt <= this.o.clock() && !job.stages.some((s) => s.state === 'waiting')));
      if (!busy || Date.now() >= deadline) return job;
      await sleep(SETTLE_POLL_MS);
    }
  }

  get(id: number): Promise<Job | null> {
    return this.o.repo.byId(id);
  }

  async list(filter: JobFilter): Promise<{ jobs: Job[]; total: number }> {
    const [jobs, total] = await Promise.all([this.o.repo.list(filter), this.o.repo.count(filter)]);
    return { jobs, total };
  }

  async cancel(id: number): Promise<Job | null> {
    const job = await this.o.repo.requestCancel(id, this.o.clock());
    if (job) this.changed(job);
    return job;
  }

  /** Null: no such job; false: not in a state that can be retried. */
  async retry(id: number): Promise<Job | false | null> {
    if (!(await this.o.repo.retry(id, this.o.clock()))) return (await this.o.repo.byId(id)) ? false : null;
    const job = (await this.o.repo.byId(id))!;
    this.changed(job);
    this.wake();
    return job;
  }

  private changed(job: Job): void {
    this.events.emit('change', job);
  }
}
