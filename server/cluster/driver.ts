import type { Logger } from '../log/logger.js';
import type { ClusterSettings } from './config.js';
import { SshError, type ExecOptions, type ExecResult, type SshClient } from '../ssh/client.js';
import { backoffDelay, withRetry, type RetryPolicy, type Sleep } from '../util/retry.js';
import type { ClusterMember } from './plan.js';

export interface FormContext {
  cluster: string;
  /** In order: the first creates the cluster (or already holds it), the rest join. */
  members: ClusterMember[];
  progress(stage: string, percent?: number): Promise<void>;
  signal: AbortSignal;
}

export interface FormResult {
  /** One line per step taken or skipped, for the job's result. */
  steps: string[];
}

/** One way of forming a cluster (proxmox, k3s, script); every driver is safe to run again. */
export interface ClusterDriver {
  readonly name: string;
  /** TCP ports a node must accept on before it counts as ready (Proxmox: 8006). */
  readonly readinessPorts: readonly number[];
  form(ctx: FormContext): Promise<FormResult>;
}

/** A failed formation step; the message names the step and node and holds no secret. */
export class FormationError extends Error {
  constructor(
    readonly step: string,
    message: string,
  ) {
    super(`${step}: ${message}`);
    this.name = 'FormationError';
  }
}

export interface DriverDeps {
  ssh: SshClient;
  retry: RetryPolicy;
  log: Logger;
  sleep?: Sleep;
  clock?: () => number;
}

export type DriverFactory = (cluster: string, settings: ClusterSettings) => ClusterDriver;

/**
 * SSH steps with the retry rule of seed 003: a read-only check is repeated
 * on any SSH failure; a change is repeated only when it never started
 * (connect or auth failure), so nothing runs twice on a node.
 */
export class RemoteSteps {
  constructor(
    private readonly deps: DriverDeps,
    private readonly settings: ClusterSettings,
    private readonly signal: AbortSignal,
  ) {}

  /** A read-only command; any exit status is returned. */
  check(host: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.retry(
      host,
      command,
      (err) => err instanceof SshError,
      () => this.deps.ssh.exec(host, command, options),
    );
  }

  /** A read-only command that must exit 0. */
  read(host: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.retry(
      host,
      command,
      (err) => err instanceof SshError,
      () => this.deps.ssh.run(host, command, options),
    );
  }

  /** A command that changes the node; must exit 0 within the step timeout. */
  change(host: string, command: string, options: ExecOptions = {}): Promise<ExecResult> {
    const run = () => this.deps.ssh.run(host, command, { timeoutMs: this.settings.stepTimeoutMs, ...options });
    return this.retry(host, command, (err) => err instanceof SshError && err.commandNeverStarted, run);
  }

  /**
   * Polls `probe` until it returns a value other than null, with backoff,
   * for at most the cluster's verifyTimeoutMs; then throws with the last reason.
   */
  async waitFor<T>(step: string, probe: () => Promise<{ value: T | null; reason: string }>): Promise<T> {
    const clock = this.deps.clock ?? Date.now;
    const deadline = clock() + this.settings.verifyTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      const result = await probe();
      if (result.value !== null) return result.value;
      const reason = result.reason;
      if (clock() >= deadline || this.signal.aborted)
        throw new FormationError(step, `${reason} (gave up after ${this.settings.verifyTimeoutMs} ms)`);
      await this.sleep(Math.min(backoffDelay(this.deps.retry, attempt), Math.max(0, deadline - clock())));
    }
  }

  private sleep(ms: number): Promise<void> {
    return (this.deps.sleep ?? ((t: number) => new Promise<void>((r) => setTimeout(r, t))))(ms, this.signal);
  }

  private retry(
    host: string,
    command: string,
    retryable: (err: unknown) => boolean,
    fn: () => Promise<ExecResult>,
  ): Promise<ExecResult> {
    return withRetry(this.deps.retry, fn, {
      retryable,
      signal: this.signal,
      sleep: this.deps.sleep,
      onRetry: (err, attempt, delayMs) =>
        this.deps.log.warn({ host, attempt, delayMs, err: (err as Error).message }, 'ssh step failed, retrying'),
    });
  }
}

/** Single-quotes a value for a POSIX shell command line. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
