import type { Logger } from '../log/logger.js';
import type { Clock } from '../kernel/clock.js';
import {
  JOB_LOG_LIMIT,
  newStage,
  type Job,
  type JobOutcome,
  type JobProgress,
  type JobStage,
  type JobsRepo,
} from '../store/jobs-repo.js';
import { backoffDelay, type RetryPolicy } from '../util/retry.js';
import { JobCancelled, JobPaused, JobWaiting, type AnyJobType, type JobContext, type StageHandle } from './types.js';

export interface JobRunnerOptions {
  jobs: JobsRepo;
  types: readonly AnyJobType[];
  workerId: string;
  clock: Clock;
  log: Logger;
  leaseMs: number;
  /** Delay before an automatic retry: base, doubling per attempt, capped. */
  retryDelay: Omit<RetryPolicy, 'attempts'>;
  /** Masks secrets in console log lines and errors. */
  mask?: (text: string) => string;
  /** Jobs run at once; DEFAULT_CONCURRENCY when unset. */
  concurrency?: number;
}

/**
 * Jobs run side by side, so one that waits (a formation whose node hangs on
 * SSH until its timeouts and retries run out) never holds up another
 * cluster's; found by test/reliability/formation-hanging-ssh.test.ts.
 */
const DEFAULT_CONCURRENCY = 4;

/**
 * Seed 004's executor: claim a due job atomically (JobsRepo.claim), dispatch
 * it to its type's handler, keep its lease alive while it runs, end it.
 * Every instance may run jobs; the claim makes sure one runs each job.
 */
export class JobRunner {
  private readonly workers = new Set<Promise<void>>();
  /** Jobs claimed so far by this runner (drain counts from it). */
  private claimed = 0;
  private readonly stopping = new AbortController();
  private readonly types: ReadonlyMap<string, AnyJobType>;

  constructor(private readonly options: JobRunnerOptions) {
    this.types = new Map(options.types.map((t) => [t.type, t]));
  }

  /** Starts a worker in the background unless `concurrency` already run (cron ticks, new jobs). */
  kick(): void {
    if (this.stopping.signal.aborted || this.workers.size >= (this.options.concurrency ?? DEFAULT_CONCURRENCY)) return;
    const worker: Promise<void> = this.work()
      .catch((err: unknown) => this.options.log.error({ err }, 'job runner failed'))
      .finally(() => this.workers.delete(worker));
    this.workers.add(worker);
  }

  /** Runs due jobs until none is left (waiting for at most `max` to be claimed); resolves with how many were claimed. */
  async drain(max = 20): Promise<number> {
    const before = this.claimed;
    this.kick();
    while (this.workers.size > 0 && this.claimed - before < max) await Promise.race([...this.workers]);
    return this.claimed - before;
  }

  /** Aborts running jobs (their leases then expire and another instance may reclaim them) and waits for the workers to end. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('homeport is shutting down'));
    await Promise.all([...this.workers]);
  }

  /** One worker: claims and runs due jobs one after another until none is due. */
  private async work(): Promise<void> {
    const { jobs, workerId, clock, leaseMs } = this.options;
    while (!this.stopping.signal.aborted) {
      const job = await jobs.claim(workerId, clock(), leaseMs, [...this.types.keys()]);
      if (!job) return;
      this.claimed++;
      this.kick(); // another job may be due: a second worker looks while this one runs
      await new RunningJob(job, this.types.get(job.type)!, this.options, this.stopping.signal).run();
    }
  }
}

/** One claimed run of a job: its stages, log and lease, and how the run ends. */
class RunningJob {
  private readonly stages: JobStage[];
  private logText: string;
  private current: JobStage | null = null;
  private readonly lost = new AbortController();
  private readonly signal: AbortSignal;
  private readonly maxAttempts: number;

  constructor(
    private readonly job: Job,
    private readonly type: AnyJobType,
    private readonly o: JobRunnerOptions,
    stopping: AbortSignal,
  ) {
    this.stages = job.stages.map((s) => ({ ...s }));
    this.logText = job.log;
    this.signal = AbortSignal.any([this.lost.signal, stopping]);
    this.maxAttempts = job.maxAttempts ?? type.maxAttempts;
  }

  async run(): Promise<void> {
    const { log } = this.o;
    if (this.job.attempts > this.maxAttempts) {
      return void (await this.end({
        status: 'failed',
        error: `gave up after ${this.maxAttempts} attempts (its runner stopped each time)`,
      }));
    }
    const heartbeat = setInterval(
      () => void this.renew().catch(() => undefined),
      Math.max(100, Math.floor(this.o.leaseMs / 3)),
    );
    this.log(`attempt ${this.job.attempts} of ${this.maxAttempts} on ${this.o.workerId}`);
    log.info({ job: this.job.id, type: this.job.type, attempt: this.job.attempts }, 'job started');
    try {
      const params = this.type.params.parse(this.job.params);
      const result = await this.type.run(params, this.context());
      // Stages a job did not need (it found nothing to do) are skipped, not left pending.
      for (const stage of this.stages) if (stage.state === 'pending') stage.state = 'skipped';
      await this.end({ status: 'completed', result });
      log.info({ job: this.job.id, type: this.job.type }, 'job completed');
    } catch (err) {
      await this.endWith(err);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private context(): JobContext {
    return {
      job: this.job,
      attempt: this.job.attempts,
      finalAttempt: this.job.attempts >= this.maxAttempts,
      signal: this.signal,
      stage: (name, run) => this.stage(name, run),
      addStages: async (names) => {
        for (const name of names) if (!this.stages.some((s) => s.name === name)) this.stages.push(newStage(name));
        await this.renew({ stages: this.stages });
      },
      progress: async ({ percent, message }) => {
        if (this.current)
          Object.assign(
            this.current,
            percent === undefined ? {} : { percent },
            message === undefined ? {} : { message },
          );
        await this.renew({ percent, message, stages: this.stages });
        this.signal.throwIfAborted();
      },
      log: (line) => this.log(line),
    };
  }

  private async stage(
    name: string,
    run: (stage: StageHandle) => Promise<Record<string, unknown> | void>,
  ): Promise<Record<string, unknown>> {
    let stage = this.stages.find((s) => s.name === name);
    if (stage?.state === 'completed' || stage?.state === 'skipped') return stage.data;
    const stored = await this.renew();
    if (stored?.cancelRequested) throw new JobCancelled(name);
    this.signal.throwIfAborted();
    if (!stage) this.stages.push((stage = newStage(name)));
    const previousState = stage.state;
    Object.assign(stage, {
      state: 'running',
      startedAt: stage.startedAt ?? this.o.clock(),
      endedAt: null,
      percent: null,
      message: null,
    });
    this.current = stage;
    this.log(`stage ${name}: started`);
    await this.renew({ stage: name, percent: null, message: null, stages: this.stages });
    const handle: StageHandle = {
      data: stage.data,
      previousState,
      save: async (data) => void (Object.assign(stage.data, data), await this.renew({ stages: this.stages })),
    };
    const data = (await run(handle)) ?? {};
    Object.assign(stage, {
      state: 'completed',
      percent: 100,
      endedAt: this.o.clock(),
      data: { ...stage.data, ...data },
    });
    this.log(`stage ${name}: completed${stage.message ? ` (${stage.message})` : ''}`);
    this.current = null;
    await this.renew({ stages: this.stages });
    return stage.data;
  }

  /** Ends the run after a throw: wait, pause, cancel, retry later, or fail. */
  private async endWith(err: unknown): Promise<void> {
    const { log, clock } = this.o;
    const message = this.mask((err as Error).message ?? String(err));
    if (err instanceof JobWaiting) {
      this.markCurrent('waiting', message);
      return void (await this.end({ status: 'pending', runAt: clock() + err.delayMs, countAttempt: false }));
    }
    // Shut down mid-job: leave it running; its lease expires and an instance reclaims it.
    if (this.signal.aborted && !(err instanceof JobCancelled))
      return void log.warn({ job: this.job.id, err: message }, 'job interrupted');
    this.markCurrent('failed', message);
    this.log(
      `${err instanceof JobPaused ? 'paused' : err instanceof JobCancelled ? 'cancelled' : 'failed'}: ${message}`,
    );
    if (err instanceof JobPaused) return void (await this.end({ status: 'paused', error: message }));
    if (err instanceof JobCancelled) return void (await this.end({ status: 'cancelled', error: message }));
    if (this.job.attempts < this.maxAttempts) {
      const delay = backoffDelay({ ...this.o.retryDelay, attempts: this.maxAttempts }, this.job.attempts);
      this.log(`retrying in ${Math.round(delay / 1000)} s (attempt ${this.job.attempts + 1} of ${this.maxAttempts})`);
      log.warn({ job: this.job.id, type: this.job.type, err: message, retryInMs: delay }, 'job failed, will retry');
      return void (await this.end({ status: 'pending', runAt: clock() + delay, error: message, countAttempt: true }));
    }
    await this.end({ status: 'failed', error: message });
    log.warn({ job: this.job.id, type: this.job.type, err: message }, 'job failed');
  }

  private markCurrent(state: 'waiting' | 'failed', message: string): void {
    if (!this.current) return;
    Object.assign(this.current, {
      state,
      message: message.slice(0, 2000),
      endedAt: state === 'failed' ? this.o.clock() : null,
    });
  }

  private async end(outcome: JobOutcome): Promise<void> {
    const done = outcome.status === 'completed' ? { percent: 100 } : {};
    await this.o.jobs.finish(this.job.id, this.o.workerId, this.o.clock(), outcome, {
      stages: this.stages,
      log: this.logText,
      ...done,
    });
  }

  /** Renews the lease (and writes progress); aborts the run when another runner owns the job now. */
  private async renew(progress: JobProgress = {}): Promise<Job | null> {
    const stored = await this.o.jobs.heartbeat(this.job.id, this.o.workerId, this.o.clock(), this.o.leaseMs, {
      ...progress,
      log: this.logText,
    });
    if (!stored) this.lost.abort(new Error(`lost the lease on job ${this.job.id}`));
    return stored;
  }

  private log(line: string): void {
    const stamped = `${new Date(this.o.clock()).toISOString()} ${this.mask(line)}\n`;
    this.logText = (this.logText + stamped).slice(-JOB_LOG_LIMIT);
  }

  private mask(text: string): string {
    return this.o.mask ? this.o.mask(text) : text;
  }
}
