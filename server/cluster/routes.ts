import { z } from 'zod';
import { ApiRouter } from '../http/api.js';
import { conflict, notFound, ValidationError } from '../kernel/errors.js';
import { nameField } from '../nodes/validation.js';
import { jobJson, jobToJson } from '../jobs/present.js';
import type { ClusterOverview, ClustersService } from './service.js';

const iso = (ms: number | null) => (ms === null || ms === 0 ? null : new Date(ms).toISOString());

export const clusterJson = z
  .object({
    name: z.string(),
    driver: z.string().describe('proxmox, k3s, script, or none when not configured'),
    configured: z.boolean(),
    state: z.enum(['pending', 'forming', 'formed', 'error']),
    expected_nodes: z.number().int().nullable(),
    nodes: z.number().int(),
    by_status: z.record(z.number().int()).describe('nodes by reprovision status'),
    verdict: z.string().describe('why it is (not) forming now'),
    last_error: z.string().nullable(),
    formed_at: z.string().datetime().nullable(),
    last_job: jobJson.nullable(),
  })
  .strict();

export function clusterToJson(c: ClusterOverview): z.output<typeof clusterJson> {
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
export function clusterRouter(options: { service: ClustersService; adminToken: string }): ApiRouter {
  const api = new ApiRouter({ adminToken: options.adminToken });
  const clusterName = (raw: string | undefined) => {
    const parsed = nameField.safeParse(raw);
    if (!parsed.success) throw new ValidationError('name', 'must be a cluster name');
    return parsed.data;
  };
  const params = { name: 'cluster name' };
  api.endpoint(
    {
      method: 'get',
      path: '/api/clusters',
      tag: 'clusters',
      summary: 'Clusters, their nodes and formation state',
      auth: 'admin',
      responses: {
        200: { description: 'the clusters', schema: z.object({ clusters: z.array(clusterJson) }).strict() },
      },
    },
    async (ctx) => {
      ctx.body = { clusters: (await options.service.overview()).map(clusterToJson) };
    },
  );
  api.endpoint(
    {
      method: 'get',
      path: '/api/clusters/:name',
      tag: 'clusters',
      summary: 'A cluster',
      auth: 'admin',
      params,
      responses: {
        200: { description: 'the cluster', schema: clusterJson },
        400: 'not a cluster name',
        404: 'no such cluster',
      },
    },
    async (ctx) => {
      const name = clusterName(ctx.params.name);
      const cluster = (await options.service.overview()).find((c) => c.name === name);
      if (!cluster) throw notFound(`no cluster ${name}`);
      ctx.body = clusterToJson(cluster);
    },
  );
  api.endpoint(
    {
      method: 'post',
      path: '/api/clusters/:name/form',
      tag: 'clusters',
      summary: 'Form the cluster (again): queue its formation job',
      auth: 'admin',
      params,
      responses: {
        202: {
          description: 'the formation job',
          schema: z.object({ job: jobJson, created: z.boolean().describe('false: a job was already queued') }).strict(),
        },
        400: 'not a cluster name',
        409: 'the cluster cannot be formed now; detail says why',
      },
    },
    async (ctx) => {
      const request = await options.service.requestFormation(clusterName(ctx.params.name));
      if (!request.ok) throw conflict(request.reason);
      ctx.status = 202;
      ctx.body = { job: jobToJson(request.job), created: request.created };
    },
  );
  return api;
}
