/**
 * A timeline as the API returns it and the CLI prints it (pure): the latest
 * attempt's events with times relative to its start, the phases reported
 * since, and the verdict first.
 */
import { z } from 'zod';
import { latestAttempt, splitAttempts, type BootEvent } from './events.js';
import { VERDICTS, type PhaseRecord, type Verdict } from './verdict.js';

export const timelineJson = z
  .object({
    mac: z.string(),
    node_id: z.number().int().nullable(),
    verdict: z.object({ verdict: z.enum(VERDICTS), summary: z.string(), evidence: z.array(z.string()) }).strict(),
    attempt: z
      .object({
        started_at: z.number().nullable().describe('ms since the epoch; null when nothing was seen'),
        earlier_attempts: z.number().int().describe('attempts before this one still stored'),
        events: z.array(
          z
            .object({
              t_ms: z.number().describe('ms since the attempt started'),
              at: z.number(),
              source: z.string(),
              kind: z.string(),
              outcome: z.string(),
              detail: z.record(z.unknown()),
            })
            .strict(),
        ),
        phases: z.array(
          z
            .object({
              t_ms: z.number(),
              at: z.number(),
              phase: z.string(),
              status: z.string(),
              source: z.string(),
              message: z.string().nullable(),
            })
            .strict(),
        ),
      })
      .strict(),
  })
  .strict();
export type TimelineJson = z.infer<typeof timelineJson>;

export function presentTimeline(input: {
  mac: string;
  nodeId: number | null;
  events: readonly BootEvent[];
  phases: readonly PhaseRecord[];
  verdict: Verdict;
}): TimelineJson {
  const attempt = latestAttempt(input.events);
  const start = attempt[0]?.at ?? null;
  const since = (at: number) => (start === null ? 0 : at - start);
  return {
    mac: input.mac,
    node_id: input.nodeId,
    verdict: input.verdict,
    attempt: {
      started_at: start,
      earlier_attempts: Math.max(0, splitAttempts(input.events).length - 1),
      events: attempt.map((e) => ({
        t_ms: since(e.at),
        at: e.at,
        source: e.source,
        kind: e.kind,
        outcome: e.outcome,
        detail: e.detail,
      })),
      phases: input.phases
        .filter((p) => start === null || p.at >= start)
        .map((p) => ({
          t_ms: since(p.at),
          at: p.at,
          phase: p.phase,
          status: p.status,
          source: p.source,
          message: p.message,
        })),
    },
  };
}

/** The timeline as lines of text: the verdict and its evidence first, then each event and phase at its relative time. */
export function timelineText(timeline: TimelineJson): string[] {
  const { verdict, attempt } = timeline;
  const rows = [
    ...attempt.events.map((e) => ({ t: e.t_ms, text: `${e.source} ${e.kind} → ${e.outcome}${detailText(e.detail)}` })),
    ...attempt.phases.map((p) => ({
      t: p.t_ms,
      text: `phase ${p.phase} ${p.status} (${p.source})${p.message ? `: ${p.message}` : ''}`,
    })),
  ].sort((a, b) => a.t - b.t);
  return [
    `${timeline.mac}${timeline.node_id === null ? ' (unknown machine)' : ` (node ${timeline.node_id})`}`,
    `verdict: ${verdict.verdict}: ${verdict.summary}`,
    ...verdict.evidence.map((line) => `  - ${line}`),
    attempt.started_at === null
      ? 'no boot events'
      : `attempt started ${new Date(attempt.started_at).toISOString()}${attempt.earlier_attempts ? ` (${attempt.earlier_attempts} earlier)` : ''}`,
    ...rows.map((row) => `  +${(row.t / 1000).toFixed(1).padStart(7)} s  ${row.text}`),
  ];
}

function detailText(detail: Record<string, unknown>): string {
  const parts = Object.entries(detail).map(([k, v]) => `${k}=${bytesOrValue(k, v)}`);
  return parts.length ? `  ${parts.join(' ')}` : '';
}

function bytesOrValue(key: string, value: unknown): string {
  if ((key === 'bytes' || key === 'total' || key === 'tsize') && typeof value === 'number' && value >= 1024)
    return value >= 1048576 ? `${(value / 1048576).toFixed(1)}MiB` : `${(value / 1024).toFixed(1)}KiB`;
  return String(value);
}
