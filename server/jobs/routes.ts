import { z } from 'zod';
import { ApiRouter } from '../http/api.js';
import { conflict, notFound, ValidationError } from '../kernel/errors.js';
import type { Job } from '../store/jobs-repo.js';
import { createJobBody, jobJson, jobsQuery, jobToJson } from './present.js';
import type { JobsService } from './service.js';

const JOB_ID = { id: 'job id' };
/** Lines of the console log GET /api/jobs/:id returns. */
const LOG_TAIL = 200;

/** Seed 002/004's command API: create, list, show, cancel, retry. Admin only. */
/** Finds the node a person named by id, MAC or hostname, or throws the 400/404/409 that says why not. */
export interface NodeResolver {
  resolve(ref: string, field?: string): Promise<{ id: number }>;
}

export function jobsRouter(o: { jobs: JobsService; nodes: NodeResolver; adminToken: string }): ApiRouter {
  const api = new ApiRouter({ adminToken: o.adminToken });
  const byId = async (raw: string | undefined): Promise<Job> => {
    if (!/^\d{1,15}$/.test(raw ?? '')) throw new ValidationError('id', 'must be a job id');
    const job = await o.jobs.get(Number(raw));
    if (!job) throw notFound(`no job ${raw}`);
    return job;
  };

  api.endpoint(
    {
      method: 'post',
      path: '/api/jobs',
      tag: 'jobs',
      summary: 'Create a job (reprovision, form_cluster, power, import_nodes)',
      description:
        'With schedule_at in the future the job stays pending until then, and re-checks its conditions when it runs.',
      auth: 'admin',
      body: createJobBody,
      responses: {
        202: { description: 'the job, queued', schema: z.object({ job: jobJson }) },
        400: 'unknown type or bad params (the field is named)',
        404: 'a node it names does not exist',
      },
    },
    async (ctx, { body }) => {
      const { job } = await o.jobs.create(body.type, body.params, { runAt: body.schedule_at });
      ctx.status = 202;
      ctx.body = { job: jobToJson(job) };
    },
  );

  api.endpoint(
    {
      method: 'get',
      path: '/api/jobs',
      tag: 'jobs',
      summary: 'List jobs, newest first',
      auth: 'admin',
      query: jobsQuery,
      responses: {
        200: {
          description: 'a page of jobs',
          schema: z.object({
            jobs: z.array(jobJson),
            total: z.number().int(),
            limit: z.number().int(),
            offset: z.number().int(),
          }),
        },
        400: 'node is not a node id, MAC or hostname',
        404: 'no such node',
        409: 'several nodes have this hostname',
      },
    },
    async (ctx, { query }) => {
      let nodeId: number | undefined;
      if (query.node) {
        nodeId = (await o.nodes.resolve(query.node, 'node')).id;
      }
      const limit = query.limit ?? 50;
      const offset = query.offset ?? 0;
      const { jobs, total } = await o.jobs.list({
        type: query.type,
        status: query.status as Job['status'] | undefined,
        cluster: query.cluster,
        nodeId,
        limit,
        offset,
      });
      ctx.body = { jobs: jobs.map((j) => jobToJson(j)), total, limit, offset };
    },
  );

  api.endpoint(
    {
      method: 'get',
      path: '/api/jobs/:id',
      tag: 'jobs',
      summary: 'A job: status, stages, progress, log tail, result, error',
      auth: 'admin',
      params: JOB_ID,
      responses: { 200: { description: 'the job', schema: jobJson }, 404: 'no such job' },
    },
    async (ctx) => {
      ctx.body = jobToJson(await byId(ctx.params.id), { logLines: LOG_TAIL });
    },
  );

  api.endpoint(
    {
      method: 'post',
      path: '/api/jobs/:id/cancel',
      tag: 'jobs',
      summary: 'Cancel a job',
      description:
        'A pending or paused job ends at once; a running one stops at its next stage boundary (cancel_requested until then).',
      auth: 'admin',
      params: JOB_ID,
      responses: {
        200: { description: 'the job after the request', schema: jobJson },
        404: 'no such job',
        409: 'the job has already ended',
      },
    },
    async (ctx) => {
      const job = await byId(ctx.params.id);
      if (['completed', 'failed', 'cancelled'].includes(job.status))
        throw conflict(`job ${job.id} has already ended (${job.status})`);
      ctx.body = jobToJson((await o.jobs.cancel(job.id))!);
    },
  );

  api.endpoint(
    {
      method: 'post',
      path: '/api/jobs/:id/retry',
      tag: 'jobs',
      summary: 'Retry a failed, paused or cancelled job',
      description: 'It resumes after its last completed stage, with a fresh set of attempts.',
      auth: 'admin',
      params: JOB_ID,
      responses: {
        202: { description: 'the job, pending again', schema: jobJson },
        404: 'no such job',
        409: 'the job is pending, running or completed',
      },
    },
    async (ctx) => {
      const job = await byId(ctx.params.id);
      const retried = await o.jobs.retry(job.id);
      if (!retried)
        throw conflict(`job ${job.id} is ${job.status}: only a failed, paused or cancelled job can be retried`);
      ctx.status = 202;
      ctx.body = jobToJson(retried);
    },
  );
  return api;
}
