import { z } from 'zod';
import {
  JobPaused,
  JobTargetError,
  JobWaiting,
  type JobContext,
  type JobType,
  type StageHandle,
} from '../jobs/types.js';
import { nodeLabel } from '../nodes/ref.js';
import type { NodesService } from '../nodes/service.js';
import { nameField } from '../nodes/validation.js';
import type { Job } from '../store/jobs-repo.js';
import type { Node } from '../store/nodes-repo.js';
import { batchState, rollingBatches, selectTargets, type ReprovisionTargets } from './plan.js';
import { POWER_ACTIONS, type PowerControl } from './power.js';
import { AmbiguousNodesError, UnknownNodesError, type ReprovisionService } from './service.js';

export const REPROVISION_JOB = 'reprovision';
export const POWER_JOB = 'power';

const nodeRefs = z.array(z.string().min(1).max(253)).min(1, 'must name at least one node').max(10_000);
const oneTarget = (b: { all?: true; nodes?: string[]; cluster?: string }) =>
  [b.all === true, b.nodes !== undefined, b.cluster !== undefined].filter(Boolean).length === 1;

/** `{all: true}`, `{nodes: [id | mac | hostname, ...]}` or `{cluster: NAME}`; rolling in batches of max_unavailable. */
export const reprovisionFields = z
  .object({
    all: z
      .literal(true, { errorMap: () => ({ message: 'must be true (or leave it out and name nodes or a cluster)' }) })
      .optional(),
    nodes: nodeRefs.optional(),
    cluster: nameField.optional(),
    timeout_min: z
      .number({ invalid_type_error: 'must be a number of minutes' })
      .int('must be whole minutes')
      .min(1, 'must be from 1 to 1440 minutes')
      .max(1440, 'must be from 1 to 1440 minutes')
      .optional(),
    rolling: z.boolean().optional(),
    max_unavailable: z.number().int().min(1, 'must be at least 1').max(1000).optional(),
  })
  .strict();

/** The rules across fields, for the params and for bodies that extend them. */
export function withTargetRules<T extends z.ZodTypeAny>(schema: T): z.ZodEffects<T> {
  return schema.superRefine((b: z.infer<typeof reprovisionFields>, ctx) => {
    if (!oneTarget(b))
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'give one of all: true, nodes: [...] or cluster: NAME',
        path: ['all'],
      });
    if (b.max_unavailable !== undefined && b.rolling !== true)
      ctx.addIssue({ code: z.ZodIssueCode.custom, message: 'only with rolling: true', path: ['max_unavailable'] });
  });
}

export const reprovisionParams = withTargetRules(reprovisionFields);
export type ReprovisionParams = z.infer<typeof reprovisionParams>;

export const powerParams = z.object({ nodes: nodeRefs, action: z.enum(POWER_ACTIONS) }).strict();
export type PowerParams = z.infer<typeof powerParams>;

export interface ReprovisionJobDeps {
  nodes: NodesService;
  reprovision: ReprovisionService;
  power: PowerControl;
  /** Whether a node's cluster is formed by a driver (a rolling batch then waits for it to rejoin). */
  hasDriver: (cluster: string) => boolean;
  pollMs: number;
}

const targetsOf = (p: { all?: true; nodes?: string[]; cluster?: string }): ReprovisionTargets =>
  p.all ? { all: true } : p.cluster ? { cluster: p.cluster } : { refs: p.nodes ?? [] };

/** The nodes a job names, as they are now; unknown names are an error that changes nothing. */
async function resolve(nodes: NodesService, targets: ReprovisionTargets): Promise<Node[]> {
  const { selected, unknown, ambiguous } = selectTargets(await nodes.list({}), targets);
  if (unknown.length) throw new UnknownNodesError(unknown);
  if (ambiguous.length) throw new AmbiguousNodesError(ambiguous);
  return selected;
}

/** At creation: unknown names are a 404, an ambiguous name or an empty selection a 409; nothing is written. */
async function creationTargets(nodes: NodesService, targets: ReprovisionTargets): Promise<Node[]> {
  try {
    const selected = await resolve(nodes, targets);
    if (selected.length === 0)
      throw new JobTargetError(
        409,
        'cluster' in targets
          ? `no nodes in cluster ${targets.cluster}`
          : 'no nodes to reprovision (all: true skips discovered nodes)',
      );
    return selected;
  } catch (err) {
    if (err instanceof UnknownNodesError) throw new JobTargetError(404, err.message);
    if (err instanceof AmbiguousNodesError) throw new JobTargetError(409, err.message);
    throw err;
  }
}

/** Seed 004: a job scheduled for later re-checks at run time and leaves nodes that are busy alone. */
const wasScheduled = (job: Job) => job.runAt > job.createdAt;

export function reprovisionJobType(d: ReprovisionJobDeps): JobType<ReprovisionParams> {
  return {
    type: REPROVISION_JOB,
    params: reprovisionParams,
    stages: (p) => (p.rolling ? ['preflight'] : ['preflight', 'restart']),
    targets: async (p) => ({
      nodeIds: (await creationTargets(d.nodes, targetsOf(p))).map((n) => n.id),
      cluster: p.cluster ?? null,
    }),
    // Restarting machines twice because a run failed half-way is worse than asking the admin.
    maxAttempts: 1,
    run: (p, ctx) => (p.rolling ? runRolling(d, p, ctx) : runOnce(d, p, ctx)),
  };
}

async function preflight(
  d: ReprovisionJobDeps,
  p: ReprovisionParams,
  ctx: JobContext,
): Promise<{ ids: number[]; skipped: string[] }> {
  const data = await ctx.stage('preflight', async () => {
    const nodes = await resolve(d.nodes, targetsOf(p));
    const busy = p.rolling || wasScheduled(ctx.job) ? nodes.filter((n) => n.reprovisionStatus === 'in_progress') : [];
    for (const n of busy) ctx.log(`skipping ${nodeLabel(n)}: already reprovisioning`);
    const ids = nodes.filter((n) => !busy.includes(n)).map((n) => n.id);
    await ctx.progress({
      message: `${ids.length} node(s) to reprovision${busy.length ? `, ${busy.length} already in progress` : ''}`,
    });
    return { ids, skipped: busy.map(nodeLabel) };
  });
  return { ids: data.ids as number[], skipped: data.skipped as string[] };
}

async function runOnce(d: ReprovisionJobDeps, p: ReprovisionParams, ctx: JobContext): Promise<unknown> {
  const { ids, skipped } = await preflight(d, p, ctx);
  if (ids.length === 0)
    return nothingToDo(
      ctx,
      skipped.length ? `every node is already reprovisioning (${skipped.join(', ')})` : 'no nodes to reprovision',
    );
  const data = await ctx.stage('restart', async () => {
    const result = await d.reprovision.start({ refs: ids.map(String) }, p.timeout_min);
    for (const o of result.nodes)
      ctx.log(`${nodeLabel(o.node)}: ${o.restart.ok ? 'restart' : 'restart failed'}: ${o.restart.detail}`);
    return {
      round: result.round,
      method: result.method,
      timeout_min: result.timeoutMin,
      nodes: result.nodes.map((o) => ({ id: o.node.id, restart: o.restart })),
    };
  });
  return { ...data, skipped };
}

/**
 * Seed 004's rolling reprovision: batches of max_unavailable nodes, one
 * after the other; a batch is started, then re-checked every poll until it
 * is back (JobWaiting holds no runner meanwhile). A failed batch pauses the
 * job with the reason; a retry resumes it at that batch.
 */
async function runRolling(d: ReprovisionJobDeps, p: ReprovisionParams, ctx: JobContext): Promise<unknown> {
  const { ids, skipped } = await preflight(d, p, ctx);
  if (ids.length === 0)
    return nothingToDo(
      ctx,
      skipped.length ? `every node is already reprovisioning (${skipped.join(', ')})` : 'no nodes to reprovision',
    );
  const plan = await ctx.stage('plan', async () => {
    const nodes = (await d.nodes.list({})).filter((n) => ids.includes(n.id));
    const batches = rollingBatches(nodes, p.max_unavailable ?? 1);
    return {
      batches: batches.map((b) => b.map((n) => n.id)),
      names: batches.map((b, i) => batchName(i, batches.length, b)),
    };
  });
  const batches = plan.batches as number[][];
  const names = plan.names as string[];
  await ctx.addStages(names);
  for (const [i, batch] of batches.entries()) {
    await ctx.stage(names[i]!, (stage) => runBatch(d, p, ctx, stage, batch, names[i]!));
  }
  return { batches: batches.length, nodes: ids.length, skipped };
}

async function runBatch(
  d: ReprovisionJobDeps,
  p: ReprovisionParams,
  ctx: JobContext,
  stage: StageHandle,
  batch: number[],
  name: string,
): Promise<Record<string, unknown>> {
  const current = async () => (await d.nodes.list({})).filter((n) => batch.includes(n.id));
  if (!stage.data.round) {
    await restartBatch(d, p, ctx, stage, batch);
  } else if (stage.previousState === 'failed') {
    // Resumed after a pause: the admin fixed something; reinstall only the nodes that failed.
    const state = batchState(await current(), (n) => Boolean(n.cluster && d.hasDriver(n.cluster)));
    if (state.state === 'failed')
      await restartBatch(
        d,
        p,
        ctx,
        stage,
        state.failed.map((n) => n.id),
      );
  }
  const state = batchState(await current(), (n) => Boolean(n.cluster && d.hasDriver(n.cluster)));
  if (state.state === 'failed')
    throw new JobPaused(
      `${name}: ${state.reason}; the job is paused so no more nodes go out. Fix them, then retry the job to reinstall them and go on`,
    );
  if (state.state === 'waiting') {
    await ctx.progress({ percent: state.percent, message: state.reason });
    throw new JobWaiting(d.pollMs, state.reason);
  }
  return {};
}

async function restartBatch(
  d: ReprovisionJobDeps,
  p: ReprovisionParams,
  ctx: JobContext,
  stage: StageHandle,
  ids: number[],
): Promise<void> {
  const result = await d.reprovision.start({ refs: ids.map(String) }, p.timeout_min);
  for (const o of result.nodes)
    ctx.log(`${nodeLabel(o.node)}: ${o.restart.ok ? 'restart' : 'restart failed'}: ${o.restart.detail}`);
  await stage.save({ round: result.round });
}

const batchName = (i: number, total: number, nodes: Node[]) =>
  `batch ${i + 1}/${total}: ${nodes.map(nodeLabel).join(', ')}`.slice(0, 64);

function nothingToDo(ctx: JobContext, reason: string): { nothing_to_do: string } {
  ctx.log(`nothing to do: ${reason}`);
  return { nothing_to_do: reason };
}

/** Power on, off, reset or PXE-once through the configured method (reprovision.method). */
export function powerJobType(d: Pick<ReprovisionJobDeps, 'nodes' | 'power'>): JobType<PowerParams> {
  return {
    type: POWER_JOB,
    params: powerParams,
    stages: () => ['preflight', 'power'],
    targets: async (p) => ({ nodeIds: (await creationTargets(d.nodes, { refs: p.nodes })).map((n) => n.id) }),
    maxAttempts: 1,
    async run(p, ctx) {
      const nodes = await resolve(d.nodes, { refs: p.nodes });
      await ctx.stage('preflight', async () => {
        const missing = nodes.flatMap((n) => {
          const why = d.power.missing(n);
          return why ? [`${nodeLabel(n)}: ${why}`] : [];
        });
        if (missing.length) throw new Error(`cannot ${p.action} through ${d.power.method}: ${missing.join('; ')}`);
      });
      const data = await ctx.stage('power', async () => {
        const outcomes = await Promise.all(
          nodes.map(async (n) => {
            try {
              return { node: nodeLabel(n), ok: true, detail: await d.power.act(n, p.action) };
            } catch (err) {
              return { node: nodeLabel(n), ok: false, detail: (err as Error).message };
            }
          }),
        );
        for (const o of outcomes) ctx.log(`${o.node}: ${o.ok ? '' : 'failed: '}${o.detail}`);
        const failed = outcomes.filter((o) => !o.ok);
        if (failed.length)
          throw new Error(`${p.action} failed on ${failed.map((o) => `${o.node} (${o.detail})`).join(', ')}`);
        return { outcomes };
      });
      return data;
    },
  };
}
