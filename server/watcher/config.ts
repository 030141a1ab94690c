import cron from 'node-cron';
import { z } from 'zod';
import { ms } from '../kernel/schema.js';

/** The watcher: timeouts, readiness checks, formation jobs. */
export const watcherSchema = z
  .object({
    /** false: no schedule (tick() still works); for tests and read-only replicas. */
    enabled: z.boolean().default(true),
    /** node-cron expression with seconds. */
    schedule: z
      .string()
      .refine((s) => cron.validate(s), 'must be a cron expression, e.g. */30 * * * * * (every 30 s)')
      .default('*/30 * * * * *'),
    /** Minutes before an in_progress node is marked timeout (per node: the API's timeout_min). */
    reprovisionTimeoutMin: z.number().int().min(1).max(1440).default(45),
    /** Readiness: SSH must answer within this. */
    sshTimeoutMs: ms(100, 120_000).default(10_000),
    /** Readiness: a service port (e.g. Proxmox 8006) must accept within this. */
    portTimeoutMs: ms(100, 120_000).default(5000),
    /** Leader lease among instances on one database; must outlast a tick interval. */
    leaseMs: ms(1000, 3_600_000).default(90_000),
    /** Lease on a running formation job, renewed while it runs; a dead runner's job is reclaimed after it. */
    jobLeaseMs: ms(1000, 3_600_000).default(120_000),
    /** Runs of a formation job (failures, and runners that died) before the cluster is marked error. */
    jobAttempts: z.number().int().min(1).max(20).default(3),
    /** Delay before a failed job's automatic retry; doubles per attempt, up to 16 times this. */
    jobRetryDelayMs: ms(10, 3_600_000).default(30_000),
    /** How often a waiting job (a rolling reprovision's batch) re-checks; it also runs on every watcher tick. */
    jobPollMs: ms(10, 3_600_000).default(15_000),
  })
  .strict()
  .default({});

export type WatcherSettings = z.infer<typeof watcherSchema>;
