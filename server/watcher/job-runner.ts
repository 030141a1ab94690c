import type { Logger } from '../log/logger';
import type { Clock } from '../nodes/service';
import type { Job, JobsRepo } from '../store/jobs-repo';

export interface JobContext {
  /** Records progress and renews the lease; rejects when this runner lost the job. */
  progress(update: { stage?: string; percent?: number; message?: string }): Promise<void>;
  /** Aborted on shutdown or when the lease was lost. */
  signal: AbortSignal;
}

/** Handles one job; the resolved value is stored as the job's result, a throw fails it. */
export type JobHandler = (job: Job, ctx: JobContext) => Promise<unknown>;

export interface JobRunnerOptions {
  jobs: JobsRepo;
  handlers: Record<string, JobHandler>;
  workerId: string;
  clock: Clock;
  log: Logger;
  leaseMs: number;
  /** A job claimed more often than this (its runners kept dying) fails without running again. */
  maxAttempts: number;
}

/**
 * Seed 004's executor: claim a due job atomically (JobsRepo.claim), dispatch
 * it to its type's handler, keep its lease alive while it runs, finish it.
 * Every instance may run jobs; the claim makes sure one runs each job.
 */
export class JobRunner {
  private draining: Promise<number> | null = null;
  private readonly stopping = new AbortController();

  constructor(private readonly options: JobRunnerOptions) {}

  /** Starts draining in the background unless already draining (cron ticks). */
  kick(): void {
    if (this.stopping.signal.aborted) return;
    void this.drain().catch((err: unknown) => this.options.log.error({ err }, 'job runner failed'));
  }

  /** Runs due jobs until none is left (at most `max`); concurrent calls share one drain. */
  drain(max = 20): Promise<number> {
    this.draining ??= this.runDue(max).finally(() => (this.draining = null));
    return this.draining;
  }

  /** Aborts a running job (its lease then expires and another instance may reclaim it) and waits for the drain to end. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('homeport is shutting down'));
    await this.draining?.catch(() => undefined);
  }

  private async runDue(max: number): Promise<number> {
    const { jobs, workerId, clock, leaseMs, handlers } = this.options;
    let ran = 0;
    while (ran < max && !this.stopping.signal.aborted) {
      const job = await jobs.claim(workerId, clock(), leaseMs, Object.keys(handlers));
      if (!job) break;
      ran++;
      await this.run(job);
    }
    return ran;
  }

  private async run(job: Job): Promise<void> {
    const { jobs, workerId, clock, leaseMs, log, maxAttempts } = this.options;
    if (job.attempts > maxAttempts) {
      await jobs.finish(job.id, workerId, clock(), { status: 'failed', error: `gave up after ${maxAttempts} attempts (its runner stopped each time)` });
      return;
    }
    const lost = new AbortController();
    const signal = AbortSignal.any([lost.signal, this.stopping.signal]);
    const renew = async (update: { stage?: string; percent?: number; message?: string } = {}) => {
      const owned = await jobs.heartbeat(job.id, workerId, clock(), leaseMs, update);
      if (!owned) lost.abort(new Error(`lost the lease on job ${job.id}`));
    };
    const heartbeat = setInterval(() => void renew().catch(() => undefined), Math.max(100, Math.floor(leaseMs / 3)));
    log.info({ job: job.id, type: job.type, attempt: job.attempts }, 'job started');
    try {
      const result = await this.options.handlers[job.type]!(job, {
        signal,
        progress: async (update) => {
          await renew(update);
          signal.throwIfAborted();
        },
      });
      await jobs.finish(job.id, workerId, clock(), { status: 'completed', result });
      log.info({ job: job.id, type: job.type }, 'job completed');
    } catch (err) {
      const message = (err as Error).message;
      // Shut down mid-job: leave it running; its lease expires and an instance reclaims it.
      if (this.stopping.signal.aborted) return void log.warn({ job: job.id, err: message }, 'job interrupted by shutdown');
      await jobs.finish(job.id, workerId, clock(), { status: 'failed', error: message });
      log.warn({ job: job.id, type: job.type, err: message }, 'job failed');
    } finally {
      clearInterval(heartbeat);
    }
  }
}
