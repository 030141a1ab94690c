/**
 * The status page (`/monitoring`, `/monitoring/nodes/:id`, `/monitoring/jobs/:id`), its login, and
 * the event stream (`/api/events`). Thin: load, build the view model
 * (./view), render (./render).
 */
import type Koa from 'koa';
import { z } from 'zod';
import { safeEqual } from '../auth/tokens.js';
import { ApiRouter } from '../http/api.js';
import { HttpError } from '../kernel/errors.js';
import type { JobsService } from '../jobs/service.js';
import type { Logger } from '../log/logger.js';
import { describeAmbiguity } from '../nodes/ref.js';
import type { NodesService } from '../nodes/service.js';
import {
  endSession,
  isReader,
  isValidSession,
  requireReader,
  safeNext,
  SESSION_COOKIE,
  startSession,
  type AccessOptions,
} from './access.js';
import type { ClustersRepo } from '../store/clusters-repo.js';
import type { HistoryRepo } from '../store/history-repo.js';
import type { EventHub } from './events.js';
import { buildJobsSection, jobDetail } from './jobs-view.js';
import { listJobsForPage } from './queries.js';
import type { PageRenderer } from './render.js';
import { filterLabels, type LabelFilter } from '../nodes/present.js';
import {
  buildClusters,
  buildSummary,
  buildTimeline,
  filterForm,
  filterNodes,
  fragmentHref,
  isFiltered,
  listHref,
  needsReason,
  pageOf,
  nodeDetail,
  nodeRow,
  parseListQuery,
  sortHeaders,
  sortNodes,
} from './view.js';

export interface MonitoringRoutesOptions {
  service: NodesService;
  jobs: JobsService;
  clusterRows: Pick<ClustersRepo, 'list'>;
  history: Pick<HistoryRepo, 'lastMessages'>;
  hub: EventHub;
  renderer: PageRenderer;
  access: AccessOptions;
  log: Logger;
  /** Labels the page shows (BMC addresses left out). */
  labels: LabelFilter;
}

/** History entries shown on a node page; older ones are counted, not listed. */
const TIMELINE_LIMIT = 1000;

const page = (description: string) => ({ description, contentType: 'text/html' });
const toLogin = 'not logged in (monitoring.requireAdmin): redirect to /monitoring/login';

/** The login form's fields; anything else a browser sends is ignored. */
const loginForm = z.object({
  token: z.string().max(1024).optional().describe('the admin token'),
  next: z.string().max(2048).optional().describe('a /monitoring path to return to'),
});

export function monitoringRouter(options: MonitoringRoutesOptions): ApiRouter {
  const { access } = options;
  const api = new ApiRouter();
  // Router middleware runs only for this router's matched routes.
  api.use(securityHeaders(options.renderer.csp));
  const fragment = z
    .object({ fragment: z.string().max(8).optional().describe('1: only the live part, for the page refresh') })
    .passthrough();
  api.endpoint(
    {
      method: 'get',
      path: '/monitoring',
      tag: 'monitoring',
      summary: 'The status page: nodes, phases, clusters (filters and sorting in the query)',
      auth: 'reader',
      use: [requireReader(access, 'login')],
      query: fragment,
      responses: { 200: page('the page'), 303: toLogin },
    },
    (ctx) => listPage(options, ctx),
  );
  api.endpoint(
    {
      method: 'get',
      path: '/monitoring/nodes/:id',
      tag: 'monitoring',
      summary: "A node's page: state and phase timeline",
      auth: 'reader',
      params: { id: 'node id or MAC' },
      use: [requireReader(access, 'login')],
      query: fragment,
      responses: { 200: page('the page'), 303: toLogin, 404: page('no such node') },
    },
    (ctx) => nodePage(options, ctx),
  );
  api.endpoint(
    {
      method: 'get',
      path: '/monitoring/jobs/:id',
      tag: 'monitoring',
      summary: "A job's page: stages, progress, result or error, console log",
      auth: 'reader',
      params: { id: 'job id' },
      use: [requireReader(access, 'login')],
      query: fragment,
      responses: { 200: page('the page'), 303: toLogin, 400: page('not a job id'), 404: page('no such job') },
    },
    (ctx) => jobPage(options, ctx),
  );
  api.endpoint(
    {
      method: 'get',
      path: '/monitoring/login',
      tag: 'monitoring',
      summary: 'The login form',
      auth: 'public',
      responses: { 200: page('the form'), 302: 'already a reader: back to next' },
    },
    (ctx) => loginPage(options, ctx),
  );
  api.endpoint(
    {
      method: 'post',
      path: '/monitoring/login',
      tag: 'monitoring',
      summary: 'Log in with the admin token (sets a session cookie)',
      auth: 'public',
      body: loginForm,
      acceptsForm: true,
      responses: { 303: 'logged in (or no login needed): to next', 401: page('not the admin token: the form again') },
    },
    (ctx, { body }) => login(options, ctx, body),
  );
  api.endpoint(
    {
      method: 'post',
      path: '/monitoring/logout',
      tag: 'monitoring',
      summary: 'End the session',
      auth: 'public',
      responses: { 303: 'to the login form (or the page when it is open)' },
    },
    (ctx) => {
      endSession(ctx);
      redirectSeeOther(ctx, access.required ? '/monitoring/login' : '/monitoring');
    },
  );
  api.endpoint(
    {
      method: 'get',
      path: '/api/events',
      tag: 'monitoring',
      summary: 'Server-sent events: node registered/updated/deleted, phase reports',
      auth: 'reader',
      use: [requireReader(access, 'error')],
      responses: {
        200: { description: 'an event stream', contentType: 'text/event-stream' },
        401: 'monitoring.requireAdmin and no admin token or session',
        503: 'the stream has its maximum number of clients',
      },
    },
    (ctx) => {
      if (options.hub.attach(ctx)) return;
      ctx.set('Retry-After', '10');
      throw new HttpError(503, 'too_many_clients', 'the event stream has its maximum number of clients; retry later');
    },
  );
  return api;
}

/** Pages are never cached (they are live), never framed, and run only their own script. */
function securityHeaders(csp: string): Koa.Middleware {
  return async (ctx, next) => {
    ctx.set('Content-Security-Policy', csp);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('Cache-Control', 'no-store');
    await next();
  };
}

const wantsFragment = (ctx: Koa.Context) => ctx.query.fragment === '1';
/** Most clusters the list page shows. */
const CLUSTERS_SHOWN = 1000;

const loggedIn = (access: AccessOptions, ctx: Koa.Context) =>
  access.required && isValidSession(access.adminToken, ctx.cookies.get(SESSION_COOKIE), access.clock());

async function listPage(
  { service, jobs, clusterRows, history, renderer, access }: MonitoringRoutesOptions,
  ctx: Koa.Context,
): Promise<void> {
  const now = access.clock();
  const catalogue = service.catalogue;
  const query = parseListQuery(ctx.query, catalogue);
  const [nodes, recorded, jobLists] = await Promise.all([
    service.list({}),
    // Bounded: the page lists clusters, it is not an export.
    clusterRows.list(CLUSTERS_SHOWN),
    listJobsForPage(jobs),
  ]);
  const clusters = buildClusters(recorded, nodes, catalogue, now);
  const shown = pageOf(sortNodes(filterNodes(nodes, query, catalogue), query, catalogue, now), query);
  const reasons = await history.lastMessages(shown.items.filter((n) => needsReason(n, catalogue)).map((n) => n.id));
  const context = {
    summary: buildSummary(nodes, catalogue, query),
    headers: sortHeaders(query),
    rows: shown.items.map((node) => nodeRow(node, catalogue, now, reasons.get(node.id) ?? null)),
    pager: shown,
    clusters,
    jobs: buildJobsSection(jobLists, now),
    filtered: isFiltered(query),
    filters: filterForm(
      query,
      clusters.map((c) => c.name),
    ),
    fragmentHref: fragmentHref(listHref(query)),
    generatedIso: new Date(now).toISOString(),
    loggedIn: loggedIn(access, ctx),
  };
  ctx.type = 'html';
  ctx.body = wantsFragment(ctx) ? renderer.fragment('list-live', context) : renderer.page('list', 'Nodes', context);
}

/** The node page takes an id, a MAC or a hostname, like the API; the error page says which it could not find. */
async function nodePage(options: MonitoringRoutesOptions, ctx: Koa.Context): Promise<void> {
  const { service, renderer, access } = options;
  const now = access.clock();
  const ref = ctx.params.id ?? '';
  const lookup = await service.lookup(ref);
  if (lookup.kind === 'invalid')
    return errorPage(options, ctx, 400, 'Not a node name', `A node is named by its id, MAC or hostname, not ${ref}.`);
  if (lookup.kind === 'missing')
    return errorPage(options, ctx, 404, 'No such node', `No node has the id, MAC or hostname ${ref}.`);
  if (lookup.kind === 'ambiguous')
    return errorPage(options, ctx, 409, 'Several nodes have this name', `${describeAmbiguity(ref, lookup.nodes)}.`);
  const { node } = lookup;
  ctx.type = 'html';
  const history = await service.historyPage(node.id, { order: 'desc', limit: TIMELINE_LIMIT, offset: 0 });
  const href = `/monitoring/nodes/${node.id}`;
  const context = {
    detail: nodeDetail({ ...node, labels: filterLabels(node.labels, options.labels) }, service.catalogue, now),
    timeline: buildTimeline(history.entries, now),
    total: history.total,
    truncated: history.total > history.entries.length,
    nodeId: node.id,
    fragmentHref: fragmentHref(href),
    loggedIn: loggedIn(access, ctx),
  };
  ctx.body = wantsFragment(ctx)
    ? renderer.fragment('node-live', context)
    : renderer.page('node', node.hostname ?? node.mac, context);
}

const ERROR_TITLES = { 400: 'Bad request', 404: 'Not found', 409: 'Ambiguous' } as const;

function errorPage(
  { renderer, access }: MonitoringRoutesOptions,
  ctx: Koa.Context,
  status: keyof typeof ERROR_TITLES,
  heading: string,
  detail: string,
): void {
  ctx.status = status;
  ctx.type = 'html';
  ctx.body = renderer.page('error', ERROR_TITLES[status], { heading, detail, loggedIn: loggedIn(access, ctx) });
}

async function jobPage(options: MonitoringRoutesOptions, ctx: Koa.Context): Promise<void> {
  const { jobs, renderer, access } = options;
  const raw = ctx.params.id ?? '';
  if (!/^\d{1,15}$/.test(raw)) return errorPage(options, ctx, 400, 'Not a job id', `A job id is a number, not ${raw}.`);
  const job = await jobs.get(Number(raw));
  if (!job) return errorPage(options, ctx, 404, 'No such job', `No job has the id ${raw}.`);
  const href = `/monitoring/jobs/${job.id}`;
  const context = {
    detail: jobDetail(job, access.clock()),
    jobId: job.id,
    fragmentHref: fragmentHref(href),
    loggedIn: loggedIn(access, ctx),
  };
  ctx.type = 'html';
  ctx.body = wantsFragment(ctx)
    ? renderer.fragment('job-live', context)
    : renderer.page('job', `Job ${job.id} ${job.type}`, context);
}

function loginPage({ renderer, access }: MonitoringRoutesOptions, ctx: Koa.Context): void {
  const next = safeNext(ctx.query.next);
  if (isReader(access, ctx)) return ctx.redirect(next);
  ctx.type = 'html';
  ctx.body = renderer.page('login', 'Log in', { next });
}

function login(
  { renderer, access, log }: MonitoringRoutesOptions,
  ctx: Koa.Context,
  body: z.output<typeof loginForm>,
): void {
  const next = safeNext(body.next);
  if (!access.required) return redirectSeeOther(ctx, next);
  const token = body.token?.trim() ?? '';
  if (token && safeEqual(token, access.adminToken)) {
    startSession(access, ctx);
    return redirectSeeOther(ctx, next);
  }
  log.warn({ ip: ctx.ip }, 'monitoring login with a wrong admin token');
  ctx.status = 401;
  ctx.type = 'html';
  ctx.body = renderer.page('login', 'Log in', { next, error: 'That is not the admin token.' });
}

/** 303: the browser follows a form POST with a GET. */
function redirectSeeOther(ctx: Koa.Context, to: string): void {
  ctx.redirect(to);
  ctx.status = 303;
}
