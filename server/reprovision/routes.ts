import { z } from 'zod';
import { ApiRouter } from '../http/api.js';
import { jobJson, jobToJson, scheduleField } from '../jobs/present.js';
import type { JobsService } from '../jobs/service.js';
import { nodeJson } from '../nodes/schemas.js';
import { allLabels, nodeToJson } from '../nodes/present.js';
import type { NodesService } from '../nodes/service.js';
import { REPROVISION_JOB, reprovisionFields, withTargetRules } from './jobs.js';

/** The reprovision job's params, plus `at`: run it later (seed 004 scheduling). */
export const reprovisionBody = withTargetRules(reprovisionFields.extend({ at: scheduleField.optional() }));

/** How long the API waits for an immediate, non-rolling reprovision (its restarts have their own timeouts). */
const IMMEDIATE_WAIT_MS = 120_000;

const startedJson = z
  .object({
    job: jobJson,
    round: z.string().datetime().optional(),
    method: z.string().optional(),
    timeout_min: z.number().int().optional(),
    nodes: z.array(nodeJson.extend({ restart: z.object({ ok: z.boolean(), detail: z.string() }).strict() })).optional(),
  })
  .strict();

/**
 * POST /api/reprovision creates a `reprovision` job. An immediate one is
 * answered when its restarts are done, with each node's outcome (seed 000's
 * trigger); a scheduled (`at`) or rolling one is answered at once with the
 * job to follow (GET /api/jobs/:id, `homeport jobs wait`).
 */
export function reprovisionRouter(o: { jobs: JobsService; nodes: NodesService; adminToken: string }): ApiRouter {
  const api = new ApiRouter({ adminToken: o.adminToken });
  api.endpoint(
    {
      method: 'post',
      path: '/api/reprovision',
      tag: 'reprovision',
      summary: 'Reprovision nodes: all, named ones or a cluster; now, at a time, or rolling',
      description:
        'Creates a reprovision job. An immediate one is answered once its restarts are done, with each node; a scheduled (at) or rolling one at once, with the job to follow.',
      auth: 'admin',
      body: reprovisionBody,
      responses: {
        202: { description: 'started (immediate: with each node and its restart), or queued', schema: startedJson },
        404: 'a named node does not exist; nothing was changed',
        409: 'no nodes to reprovision',
      },
    },
    async (ctx, { body }) => {
      const { at, ...params } = body;
      const { job } = await o.jobs.create(REPROVISION_JOB, params, { runAt: at });
      ctx.status = 202;
      if (at !== undefined || params.rolling) return void (ctx.body = { job: jobToJson(job) });
      const ended = (await o.jobs.settled(job.id, IMMEDIATE_WAIT_MS)) ?? job;
      const result = ended.result as {
        round?: number;
        method?: string;
        timeout_min?: number;
        nodes?: { id: number; restart: { ok: boolean; detail: string } }[];
      } | null;
      if (!result?.nodes) return void (ctx.body = { job: jobToJson(ended) });
      const nodes = new Map((await o.nodes.list({})).map((n) => [n.id, n]));
      ctx.body = {
        job: jobToJson(ended),
        round: new Date(result.round!).toISOString(),
        method: result.method,
        timeout_min: result.timeout_min,
        nodes: result.nodes.flatMap((r) => {
          const node = nodes.get(r.id);
          return node ? [{ ...nodeToJson(node, o.nodes.catalogue, allLabels), restart: r.restart }] : [];
        }),
      };
    },
  );
  return api;
}
