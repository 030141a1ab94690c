/**
 * The status page (`/monitoring`, `/monitoring/nodes/:id`), its login, and
 * the event stream (`/api/events`). Thin: load, build the view model
 * (./view), render (./render).
 */
import Router from '@koa/router';
import type { Knex } from 'knex';
import type Koa from 'koa';
import { safeEqual } from '../auth/tokens';
import { HttpError } from '../http/errors';
import type { Logger } from '../log/logger';
import { parseNodeRef } from '../nodes/ref';
import type { NodesService } from '../nodes/service';
import type { Node } from '../store/nodes-repo';
import { endSession, isReader, isValidSession, requireReader, safeNext, SESSION_COOKIE, startSession, type AccessOptions } from './access';
import type { EventHub } from './events';
import { listClusters } from './queries';
import type { PageRenderer } from './render';
import { buildClusters, buildSummary, buildTimeline, filterForm, filterNodes, fragmentHref, isFiltered, listHref, nodeDetail, nodeRow, parseListQuery, sortHeaders, sortNodes } from './view';

export interface MonitoringRoutesOptions {
  service: NodesService;
  knex: Knex;
  hub: EventHub;
  renderer: PageRenderer;
  access: AccessOptions;
  log: Logger;
}

/** History entries shown on a node page; older ones are counted, not listed. */
const TIMELINE_LIMIT = 1000;

export function monitoringRouter(options: MonitoringRoutesOptions): Router {
  const { access } = options;
  const router = new Router();
  // Router middleware runs only for this router's matched routes.
  router.use(securityHeaders(options.renderer.csp));
  router.get('/monitoring', requireReader(access, 'login'), (ctx) => listPage(options, ctx));
  router.get('/monitoring/nodes/:id', requireReader(access, 'login'), (ctx) => nodePage(options, ctx));
  router.get('/monitoring/login', (ctx) => loginPage(options, ctx));
  router.post('/monitoring/login', (ctx) => login(options, ctx));
  router.post('/monitoring/logout', (ctx) => {
    endSession(ctx);
    redirectSeeOther(ctx, access.required ? '/monitoring/login' : '/monitoring');
  });
  router.get('/api/events', requireReader(access, 'error'), (ctx) => {
    if (options.hub.attach(ctx)) return;
    ctx.set('Retry-After', '10');
    throw new HttpError(503, 'too_many_clients', 'the event stream has its maximum number of clients; retry later');
  });
  return router;
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
const loggedIn = (access: AccessOptions, ctx: Koa.Context) => access.required && isValidSession(access.adminToken, ctx.cookies.get(SESSION_COOKIE), access.clock());

async function listPage({ service, knex, renderer, access }: MonitoringRoutesOptions, ctx: Koa.Context): Promise<void> {
  const now = access.clock();
  const catalogue = service.catalogue;
  const query = parseListQuery(ctx.query, catalogue);
  const [nodes, clusterRows] = await Promise.all([service.list({}), listClusters(knex)]);
  const clusters = buildClusters(clusterRows, nodes, catalogue, now);
  const context = {
    summary: buildSummary(nodes, catalogue, query),
    headers: sortHeaders(query),
    rows: sortNodes(filterNodes(nodes, query, catalogue), query, catalogue, now).map((node) => nodeRow(node, catalogue, now)),
    clusters,
    filtered: isFiltered(query),
    filters: filterForm(query, clusters.map((c) => c.name)),
    fragmentHref: fragmentHref(listHref(query)),
    generatedIso: new Date(now).toISOString(),
    loggedIn: loggedIn(access, ctx),
  };
  ctx.type = 'html';
  ctx.body = wantsFragment(ctx) ? renderer.fragment('list-live', context) : renderer.page('list', 'Nodes', context);
}

/** The node page takes an id or a MAC, like the API. */
async function findNode(service: NodesService, ref: string): Promise<Node | null> {
  const parsed = parseNodeRef(ref);
  return parsed.kind === 'hostname' ? null : service.nodes.byRef(parsed);
}

async function nodePage({ service, renderer, access }: MonitoringRoutesOptions, ctx: Koa.Context): Promise<void> {
  const now = access.clock();
  const node = await findNode(service, ctx.params.id ?? '');
  ctx.type = 'html';
  if (!node) {
    ctx.status = 404;
    ctx.body = renderer.page('error', 'Not found', { heading: 'No such node', detail: `No node has the id or MAC ${ctx.params.id ?? ''}.`, loggedIn: loggedIn(access, ctx) });
    return;
  }
  const history = await service.history.page(node.id, { order: 'desc', limit: TIMELINE_LIMIT, offset: 0 });
  const href = `/monitoring/nodes/${node.id}`;
  const context = {
    detail: nodeDetail(node, service.catalogue, now),
    timeline: buildTimeline(history.entries, now),
    total: history.total,
    truncated: history.total > history.entries.length,
    nodeId: node.id,
    fragmentHref: fragmentHref(href),
    loggedIn: loggedIn(access, ctx),
  };
  ctx.body = wantsFragment(ctx) ? renderer.fragment('node-live', context) : renderer.page('node', node.hostname ?? node.mac, context);
}

function loginPage({ renderer, access }: MonitoringRoutesOptions, ctx: Koa.Context): void {
  const next = safeNext(ctx.query.next);
  if (isReader(access, ctx)) return ctx.redirect(next);
  ctx.type = 'html';
  ctx.body = renderer.page('login', 'Log in', { next });
}

function login({ renderer, access, log }: MonitoringRoutesOptions, ctx: Koa.Context): void {
  const body = (ctx.request.body ?? {}) as Record<string, unknown>;
  const next = safeNext(body.next);
  if (!access.required) return redirectSeeOther(ctx, next);
  const token = typeof body.token === 'string' ? body.token.trim() : '';
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
