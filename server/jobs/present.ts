/**
 * What the jobs API answers (zod schemas, so the OpenAPI document and the
 * presenter cannot disagree), and the query it filters by.
 */
import { z } from 'zod';
import { intFromText, queryText } from '../http/validation.js';
import { JOB_STATUSES, type Job } from '../store/jobs-repo.js';

const isoTime = z.string().datetime().describe('ISO 8601, UTC');
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export const stageJson = z
  .object({
    name: z.string(),
    state: z.enum(['pending', 'running', 'waiting', 'completed', 'failed', 'skipped']),
    percent: z.number().int().nullable(),
    message: z.string().nullable(),
    started_at: isoTime.nullable(),
    ended_at: isoTime.nullable(),
  })
  .strict();

export const jobJson = z
  .object({
    id: z.number().int(),
    type: z.string(),
    status: z.enum(JOB_STATUSES as [string, ...string[]]),
    params: z.record(z.unknown()),
    run_at: isoTime,
    attempts: z.number().int(),
    max_attempts: z.number().int().nullable(),
    stage: z.string().nullable().describe('the stage running now (or last)'),
    percent: z.number().int().nullable(),
    message: z.string().nullable(),
    stages: z.array(stageJson),
    cancel_requested: z.boolean(),
    cluster: z.string().nullable(),
    node_ids: z.array(z.number().int()),
    result: z.unknown(),
    error: z.string().nullable(),
    created_at: isoTime,
    updated_at: isoTime,
    started_at: isoTime.nullable(),
    finished_at: isoTime.nullable(),
    log_tail: z.array(z.string()).optional().describe('the last lines of the console log (GET /api/jobs/:id)'),
  })
  .strict();
export type JobJson = z.output<typeof jobJson>;

/** Seen in lists without the content of an import (it can be megabytes). */
const listedParams = (job: Job) =>
  typeof job.params.content === 'string'
    ? { ...job.params, content: `(${job.params.content.length} characters)` }
    : job.params;

export function jobToJson(job: Job, options: { logLines?: number } = {}): JobJson {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    params: listedParams(job),
    run_at: iso(job.runAt)!,
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    stage: job.stage,
    percent: job.percent,
    message: job.message,
    stages: job.stages.map((s) => ({
      name: s.name,
      state: s.state,
      percent: s.percent,
      message: s.message,
      started_at: iso(s.startedAt),
      ended_at: iso(s.endedAt),
    })),
    cancel_requested: job.cancelRequested,
    cluster: job.cluster,
    node_ids: job.nodeIds,
    result: job.result,
    error: job.error,
    created_at: iso(job.createdAt)!,
    updated_at: iso(job.updatedAt)!,
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    ...(options.logLines ? { log_tail: job.log.trimEnd().split('\n').filter(Boolean).slice(-options.logLines) } : {}),
  };
}

export const jobsQuery = z
  .object({
    type: queryText().optional(),
    status: z.enum(JOB_STATUSES as [string, ...string[]]).optional(),
    node: queryText().optional().describe('a node id, MAC or hostname'),
    cluster: queryText().optional(),
    limit: intFromText(1, 1000).optional(),
    offset: intFromText(0, 10_000_000).optional(),
  })
  .strict();

/** `schedule_at`: ISO 8601 time or ms since the epoch; the job stays pending until then. */
export const scheduleField = z
  .union([
    z.string().datetime({ offset: true, message: 'must be an ISO 8601 time such as 2026-12-01T02:00:00Z' }),
    z.number().int().min(0),
  ])
  .transform((v) => (typeof v === 'number' ? v : Date.parse(v)));

export const createJobBody = z
  .object({
    type: z.string().min(1).max(32),
    params: z.record(z.unknown()).default({}),
    schedule_at: scheduleField.optional(),
  })
  .strict();
