import Router from '@koa/router';
import type Koa from 'koa';
import { checkNodeToken, requireAdmin, type PhoneHomeAuth } from '../auth/middleware';
import { nodeToken } from '../auth/tokens';
import { notFound, conflict, ValidationError } from '../http/errors';
import type { Node } from '../store/nodes-repo';
import { parseNodeRef } from './ref';
import { historyToJson, nodeToJson } from './present';
import { NodeNotFoundError, UnknownPhaseError, type NodesService } from './service';
import { ipField, nodeCreateBody, nodeUpdateBody, parseBody, phaseBody, registerBody } from './validation';

export interface NodeRoutesOptions {
  service: NodesService;
  adminToken: string;
  phoneHome: PhoneHomeAuth;
}

/** `:id` is a numeric node id or a MAC in any accepted spelling. */
async function resolveNode(service: NodesService, ref: string): Promise<Node> {
  const parsed = parseNodeRef(ref);
  if (parsed.kind === 'hostname') throw new ValidationError('id', 'must be a node id or a MAC address');
  const node = await service.nodes.byRef(parsed);
  if (!node) throw notFound(`no node ${ref}`);
  return node;
}

function queryInt(ctx: Koa.Context, name: string, fallback: number, min: number, max: number): number {
  const raw = ctx.query[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || value < min || value > max) throw new ValidationError(name, `must be an integer from ${min} to ${max}`);
  return value;
}

function queryString(ctx: Koa.Context, name: string): string | undefined {
  const raw = ctx.query[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || raw.length > 64) throw new ValidationError(name, 'must be given once, at most 64 characters');
  return raw;
}

export function nodeRouters(options: NodeRoutesOptions): Router[] {
  return [phoneHomeRouter(options), statusRouter(options), adminRouter(options)];
}

/** The installers' calls (seed 000's register-node, seed 001's phase reports). */
function phoneHomeRouter({ service, phoneHome }: NodeRoutesOptions): Router {
  const router = new Router();
  const json = (node: Node) => nodeToJson(node, service.catalogue);

  router.post('/api/nodes/register', async (ctx) => {
    const body = parseBody(registerBody, ctx.request.body);
    checkNodeToken(phoneHome, ctx, body.mac, body.token);
    const { node, created } = await service.register({ ...body, sourceIp: ctx.ip });
    ctx.status = created ? 201 : 200;
    ctx.body = { node: json(node), created };
  });

  router.post('/api/status/phase', async (ctx) => {
    const body = parseBody(phaseBody, ctx.request.body);
    if (!service.catalogue.ordered.includes(body.phase) && !service.catalogue.failure.includes(body.phase)) {
      throw new ValidationError('phase', `unknown phase; one of ${[...service.catalogue.ordered, ...service.catalogue.failure].join(', ')}`);
    }
    // By MAC the token is checked before any database access (the hot path);
    // by id or IP the node is looked up first to learn its MAC.
    const mac = body.mac ?? (await findReportingNode(service, body)).mac;
    checkNodeToken(phoneHome, ctx, mac, body.token);
    try {
      const result = await service.reportPhase({ mac }, { phase: body.phase, status: body.status, message: body.message, progress: body.progress, source: 'installer', sourceIp: ctx.ip });
      ctx.body = { node: json(result.node), entry: historyToJson(result.entry), applied: result.decision.apply, reason: result.decision.reason };
    } catch (err) {
      if (err instanceof NodeNotFoundError) throw notFound(`no node with mac ${mac}; register it first (POST /api/nodes/register)`);
      if (err instanceof UnknownPhaseError) throw new ValidationError('phase', err.message);
      throw err;
    }
  });
  return router;
}

async function findReportingNode(service: NodesService, body: { mac?: string; node_id?: number; ip?: string }): Promise<Node> {
  const node = body.mac ? await service.nodes.byMac(body.mac) : body.node_id ? await service.nodes.byId(body.node_id) : await service.nodes.byIp(body.ip!);
  if (!node) throw notFound(`no node with ${body.mac ? `mac ${body.mac}` : body.node_id ? `id ${body.node_id}` : `ip ${body.ip}`}; register it first (POST /api/nodes/register)`);
  return node;
}

/** Read-only status (seed 001's endpoints). */
function statusRouter({ service }: NodeRoutesOptions): Router {
  const router = new Router();
  router.get('/api/status/nodes/:id', async (ctx) => {
    ctx.body = nodeToJson(await resolveNode(service, ctx.params.id!), service.catalogue);
  });
  router.get('/api/status/deployment/:ip', async (ctx) => {
    const parsed = ipField.safeParse(ctx.params.ip);
    if (!parsed.success) throw new ValidationError('ip', 'must be an IPv4 or IPv6 address');
    const node = await service.nodes.byIp(parsed.data);
    if (!node) throw notFound(`no node with ip ${parsed.data}`);
    const last = await service.history.page(node.id, { order: 'desc', limit: 1, offset: 0 });
    ctx.body = { ...nodeToJson(node, service.catalogue), last_event: last.entries[0] ? historyToJson(last.entries[0]) : null };
  });
  router.get('/api/status/history/:id', async (ctx) => {
    const node = await resolveNode(service, ctx.params.id!);
    const order = queryString(ctx, 'order') ?? 'asc';
    if (order !== 'asc' && order !== 'desc') throw new ValidationError('order', 'must be asc (oldest first) or desc (newest first)');
    const limit = queryInt(ctx, 'limit', 100, 1, 1000);
    const offset = queryInt(ctx, 'offset', 0, 0, 1e9);
    const page = await service.history.page(node.id, { order, limit, offset });
    ctx.body = { node_id: node.id, mac: node.mac, total: page.total, order, limit, offset, entries: page.entries.map(historyToJson) };
  });
  router.get('/api/status/summary', async (ctx) => {
    ctx.body = await service.summary();
  });
  return router;
}

/** Admin: list, create, edit, delete nodes; read a node's phone-home token. */
function adminRouter({ service, adminToken, phoneHome }: NodeRoutesOptions): Router {
  const router = new Router();
  router.use(['/api/nodes', '/api/nodes/:id', '/api/nodes/:id/token'], async (ctx, next) => {
    // /api/nodes/register is a phone-home route with its own auth.
    if (ctx.path === '/api/nodes/register') return next();
    return requireAdmin(adminToken)(ctx, next);
  });
  const json = (node: Node) => nodeToJson(node, service.catalogue);
  router.get('/api/nodes', async (ctx) => {
    const nodes = await service.list({
      cluster: queryString(ctx, 'cluster'),
      profile: queryString(ctx, 'profile'),
      deploymentStatus: queryString(ctx, 'phase'),
      reprovisionStatus: queryString(ctx, 'reprovision_status'),
      status: queryString(ctx, 'status'),
      limit: queryInt(ctx, 'limit', 1000, 1, 10000),
      offset: queryInt(ctx, 'offset', 0, 0, 1e9),
    });
    ctx.body = { nodes: nodes.map(json) };
  });
  router.post('/api/nodes', async (ctx) => {
    const body = parseBody(nodeCreateBody, ctx.request.body);
    if (await service.nodes.byMac(body.mac)) throw conflict(`node ${body.mac} exists; edit it with PATCH /api/nodes/${body.mac}`);
    const node = await service.create(body.mac, { hostname: body.hostname, ip: body.ip, type: body.type, profile: body.profile, cluster: body.cluster, labels: body.labels, netbootEnabled: body.netboot_enabled });
    ctx.status = 201;
    ctx.body = json(node);
  });
  router.get('/api/nodes/:id', async (ctx) => {
    ctx.body = json(await resolveNode(service, ctx.params.id!));
  });
  router.patch('/api/nodes/:id', async (ctx) => {
    const node = await resolveNode(service, ctx.params.id!);
    const body = parseBody(nodeUpdateBody, ctx.request.body);
    const updated = await service.update(node.id, { hostname: body.hostname, ip: body.ip, type: body.type, profile: body.profile, cluster: body.cluster, labels: body.labels, netbootEnabled: body.netboot_enabled });
    ctx.body = json(updated!);
  });
  router.delete('/api/nodes/:id', async (ctx) => {
    const node = await resolveNode(service, ctx.params.id!);
    await service.delete(node.id);
    ctx.status = 204;
  });
  router.get('/api/nodes/:id/token', async (ctx) => {
    const node = await resolveNode(service, ctx.params.id!);
    ctx.body = { mac: node.mac, token: nodeToken(phoneHome.secret, node.mac) };
  });
  return router;
}
