import Router from '@koa/router';
import { requireAdmin } from '../auth/middleware';
import { conflict, notFound, ValidationError } from '../http/errors';
import { nameField } from '../nodes/validation';
import type { Job } from '../store/jobs-repo';
import type { ClusterOverview, ClustersService } from './service';

const iso = (ms: number | null) => (ms === null || ms === 0 ? null : new Date(ms).toISOString());

export function jobToJson(job: Job) {
  return {
    id: job.id,
    type: job.type,
    status: job.status,
    attempts: job.attempts,
    stage: job.stage,
    percent: job.percent,
    error: job.error,
    result: job.result,
    created_at: iso(job.createdAt),
    updated_at: iso(job.updatedAt),
  };
}

export function clusterToJson(c: ClusterOverview) {
  return {
    name: c.name,
    driver: c.driver,
    configured: c.configured,
    state: c.state,
    expected_nodes: c.expectedNodes,
    nodes: c.nodes,
    by_status: c.byStatus,
    verdict: c.verdict,
    last_error: c.lastError,
    formed_at: iso(c.formedAt),
    last_job: c.lastJob ? jobToJson(c.lastJob) : null,
  };
}

/** Admin: list clusters, and form one (again) — the retry after a failed formation. */
export function clusterRouter(options: { service: ClustersService; adminToken: string }): Router {
  const router = new Router();
  const admin = requireAdmin(options.adminToken);
  const clusterName = (raw: string | undefined) => {
    const parsed = nameField.safeParse(raw);
    if (!parsed.success) throw new ValidationError('name', 'must be a cluster name');
    return parsed.data;
  };
  router.get('/api/clusters', admin, async (ctx) => {
    ctx.body = { clusters: (await options.service.overview()).map(clusterToJson) };
  });
  router.get('/api/clusters/:name', admin, async (ctx) => {
    const name = clusterName(ctx.params.name);
    const cluster = (await options.service.overview()).find((c) => c.name === name);
    if (!cluster) throw notFound(`no cluster ${name}`);
    ctx.body = clusterToJson(cluster);
  });
  router.post('/api/clusters/:name/form', admin, async (ctx) => {
    const request = await options.service.requestFormation(clusterName(ctx.params.name));
    if (!request.ok) throw conflict(request.reason);
    ctx.status = 202;
    ctx.body = { job: jobToJson(request.job), created: request.created };
  });
  return router;
}
