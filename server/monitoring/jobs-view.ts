/**
 * View models of the jobs on the status page: the section on /monitoring and
 * a job's own page. Pure like ./view: `now` and the jobs come in as arguments.
 * What a job shows of its params and log comes from the jobs API presenter,
 * so an import's content is shortened the same way everywhere.
 */
import { jobToJson } from '../jobs/present.js';
import type { Job } from '../store/jobs-repo.js';
import { formatDuration, relativeTime } from './view.js';

/** Failed jobs listed on the page: the recent ones say what broke; the API has the rest. */
export const FAILED_JOBS_SHOWN = 5;
/** Running, due and scheduled jobs listed (more are counted). */
export const ACTIVE_JOBS_SHOWN = 50;
/** Console log lines on a job page. */
export const JOB_LOG_LINES = 200;
/** A param value or a result longer than this is cut (an import's result lists every row). */
const VALUE_CHARS = 200;
const RESULT_CHARS = 10_000;

/** Where an unfinished job is: what an admin needs to know at a glance. */
export type JobPhase = 'running' | 'waiting' | 'due' | 'scheduled' | 'paused' | 'completed' | 'failed' | 'cancelled';

export function jobPhase(job: Pick<Job, 'status' | 'runAt' | 'stages'>, now: number): JobPhase {
  if (job.status !== 'pending') return job.status;
  // A stage that said "come back later" (JobWaiting) keeps the job pending with a later run_at.
  if (job.stages.some((s) => s.state === 'waiting')) return 'waiting';
  return job.runAt <= now ? 'due' : 'scheduled';
}

const PHASE_TONES: Record<JobPhase, 'ok' | 'failed' | 'busy' | 'neutral'> = {
  running: 'busy',
  waiting: 'busy',
  due: 'busy',
  scheduled: 'neutral',
  paused: 'failed',
  completed: 'ok',
  failed: 'failed',
  cancelled: 'neutral',
};
const ACTIVE_ORDER: JobPhase[] = ['running', 'waiting', 'due', 'scheduled'];

export interface JobRowView {
  id: number;
  href: string;
  type: string;
  phase: JobPhase;
  tone: 'ok' | 'failed' | 'busy' | 'neutral';
  stage: string | null;
  /** "2 of 5" through the declared stages. */
  step: string | null;
  /** 0..100 of the running stage, null when the stage has not said. */
  percent: number | null;
  message: string | null;
  error: string | null;
  target: string | null;
  /** "in 59m" (scheduled or waiting), "2m ago" (ended), else the time since it was updated. */
  when: string;
  whenIso: string;
  attempts: string;
  /** Still moving: the page re-fetches while one is shown (progress is written without an event). */
  busy: boolean;
}

function target(job: Pick<Job, 'cluster' | 'nodeIds'>): string | null {
  const nodes = job.nodeIds.length ? `${job.nodeIds.length} node${job.nodeIds.length === 1 ? '' : 's'}` : null;
  return [job.cluster ? `cluster ${job.cluster}` : null, nodes].filter(Boolean).join(', ') || null;
}

function when(job: Job, phase: JobPhase, now: number): { when: string; whenIso: string } {
  if (phase === 'scheduled' || phase === 'waiting')
    return { when: `runs in ${formatDuration(job.runAt - now)}`, whenIso: new Date(job.runAt).toISOString() };
  const at = job.finishedAt ?? job.updatedAt;
  return { when: relativeTime(at, now), whenIso: new Date(at).toISOString() };
}

export function jobRow(job: Job, now: number): JobRowView {
  const phase = jobPhase(job, now);
  const index = job.stage === null ? -1 : job.stages.findIndex((s) => s.name === job.stage);
  return {
    id: job.id,
    href: `/monitoring/jobs/${job.id}`,
    type: job.type,
    phase,
    tone: PHASE_TONES[phase],
    stage: job.stage,
    step: index < 0 ? null : `${index + 1} of ${job.stages.length}`,
    percent: job.percent === null ? null : Math.max(0, Math.min(100, job.percent)),
    message: job.message,
    error: job.error,
    target: target(job),
    ...when(job, phase, now),
    attempts: job.maxAttempts === null ? String(job.attempts) : `${job.attempts} of ${job.maxAttempts}`,
    busy: phase === 'running' || phase === 'due' || phase === 'waiting',
  };
}

export interface JobsSectionView {
  active: JobRowView[];
  /** Active jobs beyond those listed. */
  moreActive: number;
  paused: JobRowView[];
  failed: JobRowView[];
  failedTotal: number;
  busy: boolean;
}

export interface JobLists {
  running: Job[];
  pending: Job[];
  /** Total pending and running, for the "and N more" line. */
  activeTotal: number;
  paused: Job[];
  failed: Job[];
  failedTotal: number;
}

/** Running first, then waiting, due, and scheduled by when they run. */
export function buildJobsSection(lists: JobLists, now: number): JobsSectionView {
  const active = [...lists.running, ...lists.pending]
    .map((job) => ({ job, row: jobRow(job, now) }))
    .sort(
      (a, b) =>
        ACTIVE_ORDER.indexOf(a.row.phase) - ACTIVE_ORDER.indexOf(b.row.phase) ||
        a.job.runAt - b.job.runAt ||
        a.job.id - b.job.id,
    )
    .slice(0, ACTIVE_JOBS_SHOWN)
    .map((a) => a.row);
  return {
    active,
    moreActive: Math.max(0, lists.activeTotal - active.length),
    paused: lists.paused.map((job) => jobRow(job, now)),
    failed: lists.failed.slice(0, FAILED_JOBS_SHOWN).map((job) => jobRow(job, now)),
    failedTotal: lists.failedTotal,
    busy: active.some((row) => row.busy),
  };
}

// ---- job page -------------------------------------------------------------

export interface StageView {
  name: string;
  state: string;
  percent: number | null;
  message: string | null;
  took: string | null;
}

export interface JobDetailView {
  row: JobRowView;
  fields: { label: string; value: string | null }[];
  params: { name: string; value: string }[];
  stages: StageView[];
  result: string | null;
  logTail: string[];
  logTruncated: boolean;
}

const cut = (text: string, max: number) =>
  text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function jobDetail(job: Job, now: number): JobDetailView {
  const json = jobToJson(job, { logLines: JOB_LOG_LINES });
  const logTail = json.log_tail ?? [];
  const row = jobRow(job, now);
  return {
    row,
    fields: [
      {
        label: 'Status',
        value: job.status + (job.cancelRequested && job.status === 'running' ? ' (cancel requested)' : ''),
      },
      { label: 'Attempts', value: row.attempts },
      { label: 'Run at', value: json.run_at },
      { label: 'Target', value: target(job) },
      { label: 'Created', value: `${json.created_at} (${relativeTime(job.createdAt, now)})` },
      { label: 'Started', value: isoOrNull(job.startedAt) },
      { label: 'Finished', value: isoOrNull(job.finishedAt) },
    ],
    params: Object.entries(json.params).map(([name, value]) => ({
      name,
      value: cut(typeof value === 'string' ? value : JSON.stringify(value), VALUE_CHARS),
    })),
    stages: job.stages.map((s) => ({
      name: s.name,
      state: s.state,
      percent: s.percent,
      message: s.message,
      took: s.startedAt !== null && s.endedAt !== null ? formatDuration(s.endedAt - s.startedAt) : null,
    })),
    result:
      job.result === null || job.result === undefined ? null : cut(JSON.stringify(job.result, null, 2), RESULT_CHARS),
    logTail,
    logTruncated: job.log.trimEnd().split('\n').filter(Boolean).length > logTail.length,
  };
}
