import type Koa from 'koa';
import { z } from 'zod';
import { ApiRouter } from '../http/api.js';
import type { Clock } from '../kernel/clock.js';
import { presentTimeline, timelineJson } from './present.js';
import type { BootEvents } from './service.js';
import { verdictOf, type PhaseRecord, type VerdictLimits } from './verdict.js';

export interface TimelineRoutesOptions {
  events: BootEvents;
  /** A node id, MAC or hostname to its MAC and node id; a MAC that is no node gives nodeId null. Throws 404/409. */
  resolve(ref: string): Promise<{ mac: string; nodeId: number | null }>;
  /** A node's phase history, oldest first. */
  phases(nodeId: number): Promise<PhaseRecord[]>;
  limits: VerdictLimits;
  clock: Clock;
  adminToken: string;
  /** The reader check the status routes use (monitoring.requireAdmin). */
  reader?: Koa.Middleware;
}

/** GET /api/nodes/:id/timeline (readers) and GET /api/seen (admin). Both read only: a GET changes nothing. */
export function timelineRouters(options: TimelineRoutesOptions): ApiRouter[] {
  const reader = new ApiRouter();
  reader.endpoint(
    {
      method: 'get',
      path: '/api/nodes/:id/timeline',
      tag: 'timeline',
      summary: "A machine's latest boot attempt, event by event, with the verdict: why it did (not) boot",
      auth: 'reader',
      use: options.reader ? [options.reader] : [],
      params: { id: 'numeric node id, MAC address (any spelling; also of a machine that is no node) or hostname' },
      responses: {
        200: { description: 'the timeline', schema: timelineJson },
        404: 'no such node, and not a MAC address',
        409: 'several nodes have this hostname',
      },
    },
    async (ctx) => {
      const { mac, nodeId } = await options.resolve(ctx.params.id!);
      const events = await options.events.forMac(mac);
      const phases = nodeId === null ? [] : await options.phases(nodeId);
      const verdict = verdictOf(events, phases, options.clock(), options.limits);
      ctx.body = presentTimeline({ mac, nodeId, events, phases, verdict });
    },
  );

  const admin = new ApiRouter({ adminToken: options.adminToken });
  admin.endpoint(
    {
      method: 'get',
      path: '/api/seen',
      tag: 'timeline',
      summary: 'Machines homeport does not know that tried to boot (the last timeline.seenLimit MACs)',
      auth: 'admin',
      responses: { 200: { description: 'most recently seen first', schema: seenJson } },
    },
    async (ctx) => {
      const seen = await options.events.seen();
      ctx.body = {
        machines: seen.map((s) => ({
          mac: s.mac,
          last_at: s.lastAt,
          events: s.events,
          last: { source: s.last.source, kind: s.last.kind, outcome: s.last.outcome, detail: s.last.detail },
        })),
      };
    },
  );
  return [reader, admin];
}

const seenJson = z
  .object({
    machines: z.array(
      z
        .object({
          mac: z.string(),
          last_at: z.number(),
          events: z.number().int(),
          last: z
            .object({ source: z.string(), kind: z.string(), outcome: z.string(), detail: z.record(z.unknown()) })
            .strict(),
        })
        .strict(),
    ),
  })
  .strict();
