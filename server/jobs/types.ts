import type { z } from 'zod';
import type { Job, StageState } from '../store/jobs-repo.js';

/**
 * A kind of long action (seed 002/004): its parameters, the stages it runs,
 * what it is about (for filters), how often a failing run is retried, and
 * the handler. One registry of these drives the runner and the jobs API.
 */
export interface JobType<P = Record<string, unknown>> {
  type: string;
  /** Validates `params` of POST /api/jobs; errors name the field. */
  params: z.ZodType<P, z.ZodTypeDef, unknown>;
  /** Stage names known when the job is created (more may be added as it runs). */
  stages(params: P): string[];
  /** The nodes and cluster the job is about, resolved when it is created. */
  targets?(params: P): Promise<{ nodeIds?: number[]; cluster?: string | null }>;
  /** Runs of a failing job before it fails for good (1: no automatic retry). */
  maxAttempts: number;
  run(params: P, ctx: JobContext): Promise<unknown>;
}

/** A type whose params type is erased, for registries of mixed types. */
// The registry holds types of different P; each is only called with params its own schema parsed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above: P is erased on purpose
export type AnyJobType = JobType<any>;

export interface JobContext {
  readonly job: Job;
  /** 1 for the first run; counts failed runs and runners that died. */
  readonly attempt: number;
  /** True when a failure now fails the job for good (no automatic retry left). */
  readonly finalAttempt: boolean;
  /** Aborted on shutdown or when this runner lost the job's lease. */
  readonly signal: AbortSignal;
  /**
   * Runs one named stage: checks for a cancel request first (the stage
   * boundary), records it running, then completed with the data `run`
   * returns. A stage completed by an earlier run is skipped and its stored
   * data returned, so a retried job resumes where it stopped.
   */
  stage(
    name: string,
    run: (stage: StageHandle) => Promise<Record<string, unknown> | void>,
  ): Promise<Record<string, unknown>>;
  /** Adds stages learnt while running (e.g. the batches of a rolling reprovision). */
  addStages(names: string[]): Promise<void>;
  /** Percent and message of the running stage; renews the lease. */
  progress(update: { percent?: number; message?: string }): Promise<void>;
  /** One line of the job's console log (secrets masked). */
  log(line: string): void;
}

export interface StageHandle {
  /** What an earlier run of this (unfinished) stage saved. */
  readonly data: Record<string, unknown>;
  /** The stage's state before this run: pending, waiting (re-checking) or failed (resumed by a retry). */
  readonly previousState: StageState;
  /** Saves resume data now, before the stage ends. */
  save(data: Record<string, unknown>): Promise<void>;
}

/** Thrown by a handler: stop here and come back after `delayMs` to re-check (a wait that holds no runner). */
export class JobWaiting extends Error {
  constructor(
    readonly delayMs: number,
    message: string,
  ) {
    super(message);
    this.name = 'JobWaiting';
  }
}

/** Thrown by a handler: stop and wait for an admin (POST /api/jobs/:id/retry resumes). */
export class JobPaused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JobPaused';
  }
}

/** Thrown at a stage boundary after an admin asked to cancel. */
export class JobCancelled extends Error {
  constructor(stage: string) {
    super(`cancelled by an admin before stage "${stage}"`);
    this.name = 'JobCancelled';
  }
}

/** Thrown by `targets` when a job cannot be created: a named node does not exist (404), or there is nothing it could act on (409). Nothing is written. */
export class JobTargetError extends Error {
  constructor(
    readonly status: 404 | 409,
    message: string,
  ) {
    super(message);
    this.name = 'JobTargetError';
  }
}
