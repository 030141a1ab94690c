import Router from '@koa/router';
import { z } from 'zod';
import { requireAdmin } from '../auth/middleware';
import { conflict, notFound } from '../http/errors';
import { nodeToJson } from '../nodes/present';
import type { PhaseCatalogue } from '../nodes/phases';
import { parseBody } from '../nodes/validation';
import { UnknownNodesError, type ReprovisionService } from './service';

/** `{all: true}` or `{nodes: [id | mac | hostname, ...]}`, and an optional per-node timeout in minutes. */
export const reprovisionBody = z
  .object({
    all: z.literal(true, { errorMap: () => ({ message: 'must be true (or leave it out and name nodes)' }) }).optional(),
    nodes: z.array(z.string().min(1).max(253)).min(1, 'must name at least one node').max(10_000).optional(),
    timeout_min: z.number({ invalid_type_error: 'must be a number of minutes' }).int('must be whole minutes').min(1, 'must be from 1 to 1440 minutes').max(1440, 'must be from 1 to 1440 minutes').optional(),
  })
  .strict()
  .refine((b) => (b.all === true) !== (b.nodes !== undefined), { message: 'give either all: true or nodes: [...]', path: ['all'] });

export function reprovisionRouter(options: { service: ReprovisionService; catalogue: PhaseCatalogue; adminToken: string }): Router {
  const router = new Router();
  router.post('/api/reprovision', requireAdmin(options.adminToken), async (ctx) => {
    const body = parseBody(reprovisionBody, ctx.request.body);
    let result;
    try {
      result = await options.service.start(body.all ? { all: true } : { refs: body.nodes! }, body.timeout_min);
    } catch (err) {
      if (err instanceof UnknownNodesError) throw notFound(`${err.message}; nothing was changed`);
      throw err;
    }
    if (result.nodes.length === 0) throw conflict('no nodes to reprovision (all: true skips discovered nodes)');
    ctx.status = 202;
    ctx.body = {
      round: new Date(result.round).toISOString(),
      method: result.method,
      timeout_min: result.timeoutMin,
      nodes: result.nodes.map((o) => ({ ...nodeToJson(o.node, options.catalogue), restart: { ok: o.restart.ok, detail: o.restart.detail } })),
    };
  });
  return router;
}
