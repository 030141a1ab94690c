import type Koa from 'koa';
import { z } from 'zod';
import { presentedNodeToken } from '../auth/middleware.js';
import { isRoundOpen, roundToken } from '../auth/rounds.js';
import { ApiRouter } from '../http/api.js';
import type { HostKeyPinner } from '../ssh/pin.js';
import { notFound, conflict, unauthorized, ValidationError } from '../kernel/errors.js';
import type { Logger } from '../log/logger.js';
import type { Node } from '../store/nodes-repo.js';
import { allLabels, historyToJson, nodeToJson, readerLabels } from './present.js';
import { NodeNotFoundError, RoundRefusedError, UnknownPhaseError, type NodesService } from './service.js';
import { historyJson, nodeJson, summaryJson } from './schemas.js';
import {
  historyQuery,
  ipField,
  nodeCreateBody,
  nodeListQuery,
  nodeUpdateBody,
  phaseBody,
  refuseUnknownProfile,
  registerBody,
} from './validation.js';

export interface NodeRoutesOptions {
  service: NodesService;
  adminToken: string;
  log: Logger;
  /** Pins the host keys a register call sends (server/ssh/pin.ts). */
  pinHostKeys?: HostKeyPinner;
  /** The reader check of GET /api/status/* (the admin token with monitoring.requireAdmin). */
  reader?: Koa.Middleware;
  /** reprovision.redfish.bmcLabel: never shown by the status routes. */
  bmcLabel?: string;
  /** The boot profiles a node may name. */
  profiles: readonly string[];
  /** A phone-home call refused by the install round (for the boot timeline); never given the token. */
  onRefused?: (call: {
    mac: string;
    kind: 'register' | 'phase';
    reason: string;
    client: string;
    phase?: string;
  }) => void;
}

/** `:id` is a numeric node id, a MAC in any accepted spelling or a hostname (409 when several nodes share it). */
function resolveNode(service: NodesService, ref: string): Promise<Node> {
  return service.resolve(ref);
}

export function nodeRouters(options: NodeRoutesOptions): ApiRouter[] {
  return [phoneHomeRouter(options), statusRouter(options), adminRouter(options)];
}

const NODE_REF = {
  id: 'numeric node id, MAC address (any spelling) or hostname; 409 when several nodes have the hostname',
};
const AMBIGUOUS_REF = { 409: 'several nodes have this hostname; detail lists them' } as const;

/** The answers of a route that names one node by id, MAC or hostname. */
const ONE_NODE = {
  200: { description: 'the node', schema: nodeJson },
  400: 'not a node id, MAC or hostname',
  404: 'no such node',
  ...AMBIGUOUS_REF,
};

/** The installers' calls (seed 000's register-node, seed 001's phase reports). */
function phoneHomeRouter({ service, log, pinHostKeys, onRefused }: NodeRoutesOptions): ApiRouter {
  const api = new ApiRouter();
  const json = (node: Node) => nodeToJson(node, service.catalogue);
  /** A refusal is logged with the reason and the caller, never the token presented. */
  const refused = (err: unknown, mac: string, client: string, kind: 'register' | 'phase', phase?: string): unknown => {
    if (!(err instanceof RoundRefusedError)) return err;
    log.warn({ mac, client, reason: err.message }, 'phone-home call refused');
    onRefused?.({ mac, kind, reason: err.message, client, phase });
    return unauthorized(err.message);
  };

  api.directEndpoint(
    {
      method: 'post',
      path: '/api/nodes/register',
      tag: 'phone-home',
      summary: 'Register a node (or update it) from its installer',
      auth: 'node',
      body: registerBody,
      acceptsForm: true,
      responses: {
        200: { description: 'the node existed and was updated', schema: registeredJson },
        201: { description: 'the node was created (auth.openPhoneHome only)', schema: registeredJson },
        404: 'no such node: an admin adds it, or it boots under boot.unknown: discover',
      },
    },
    async (ctx, { body }) => {
      try {
        const { node, created } = await service.register(body, {
          token: presentedNodeToken(ctx, body.token),
          sourceIp: ctx.ip,
        });
        // After register accepted the call: only the round's own machine pins its keys.
        if (body.host_keys) await pinHostKeys?.(node, body.host_keys);
        ctx.status = created ? 201 : 200;
        ctx.body = { node: json(node), created };
      } catch (err) {
        if (err instanceof NodeNotFoundError) throw notFound(err.message);
        throw refused(err, body.mac, ctx.ip, 'register');
      }
    },
  );

  api.directEndpoint(
    {
      method: 'post',
      path: '/api/status/phase',
      tag: 'phone-home',
      summary: 'Report a deployment phase',
      auth: 'node',
      body: phaseBody,
      acceptsForm: true,
      responses: { 200: { description: 'recorded', schema: phaseReportJson }, 404: 'no such node; register it first' },
      description:
        "The node is named by mac, node_id or ip. The call needs the token of the node's open install round, from the address the round is bound to (401 otherwise). A report that would move a node backwards is recorded with applied: false (the report rule).",
    },
    async (ctx, { body }) => {
      if (!service.catalogue.ordered.includes(body.phase) && !service.catalogue.failure.includes(body.phase)) {
        throw new ValidationError(
          'phase',
          `unknown phase; one of ${[...service.catalogue.ordered, ...service.catalogue.failure].join(', ')}`,
        );
      }
      // By id or IP the node is looked up first to learn its MAC; the round
      // (token, address) is checked on the row inside the write.
      const mac = body.mac ?? (await findReportingNode(service, body)).mac;
      try {
        const caller = { token: presentedNodeToken(ctx, body.token), sourceIp: ctx.ip };
        const result = await service.reportPhase(
          { mac },
          {
            phase: body.phase,
            status: body.status,
            message: body.message,
            progress: body.progress,
            source: 'installer',
            sourceIp: ctx.ip,
          },
          caller,
        );
        ctx.body = {
          node: json(result.node),
          entry: historyToJson(result.entry),
          applied: result.decision.apply,
          reason: result.decision.reason,
        };
      } catch (err) {
        if (err instanceof NodeNotFoundError)
          throw notFound(`no node with mac ${mac}; register it first (POST /api/nodes/register)`);
        if (err instanceof UnknownPhaseError) throw new ValidationError('phase', err.message);
        throw refused(err, mac, ctx.ip, 'phase', body.phase);
      }
    },
  );
  return api;
}

const registeredJson = z.object({ node: nodeJson, created: z.boolean() }).strict();
const phaseReportJson = z
  .object({
    node: nodeJson,
    entry: historyJson,
    applied: z.boolean(),
    reason: z.string().describe('why the report was (not) applied'),
  })
  .strict();

async function findReportingNode(
  service: NodesService,
  body: { mac?: string; node_id?: number; ip?: string },
): Promise<Node> {
  const node = body.mac
    ? await service.byMac(body.mac)
    : body.node_id
      ? await service.byId(body.node_id)
      : await service.byIp(body.ip!);
  if (!node)
    throw notFound(
      `no node with ${body.mac ? `mac ${body.mac}` : body.node_id ? `id ${body.node_id}` : `ip ${body.ip}`}; register it first (POST /api/nodes/register)`,
    );
  return node;
}

/** Read-only status (seed 001's endpoints): readers, without BMC labels. */
function statusRouter({ service, reader, bmcLabel }: NodeRoutesOptions): ApiRouter {
  const api = new ApiRouter();
  const access = { auth: 'reader', use: reader ? [reader] : [] } as const;
  const labels = readerLabels(bmcLabel);
  api.endpoint(
    {
      method: 'get',
      path: '/api/status/nodes/:id',
      tag: 'status',
      summary: "A node's state",
      ...access,
      params: NODE_REF,
      responses: ONE_NODE,
    },
    async (ctx) => {
      ctx.body = nodeToJson(await resolveNode(service, ctx.params.id!), service.catalogue, labels);
    },
  );
  api.endpoint(
    {
      method: 'get',
      path: '/api/status/deployment/:ip',
      tag: 'status',
      summary: 'A node by IP, with its last event',
      ...access,
      params: { ip: 'IPv4 or IPv6 address' },
      responses: {
        200: { description: 'the node and its last event', schema: deploymentJson },
        400: 'not an IP address',
        404: 'no node has this IP',
      },
    },
    async (ctx) => {
      const parsed = ipField.safeParse(ctx.params.ip);
      if (!parsed.success) throw new ValidationError('ip', 'must be an IPv4 or IPv6 address');
      const node = await service.byIp(parsed.data);
      if (!node) throw notFound(`no node with ip ${parsed.data}`);
      const last = await service.historyPage(node.id, { order: 'desc', limit: 1, offset: 0 });
      ctx.body = {
        ...nodeToJson(node, service.catalogue, labels),
        last_event: last.entries[0] ? historyToJson(last.entries[0]) : null,
      };
    },
  );
  api.endpoint(
    {
      method: 'get',
      path: '/api/status/history/:id',
      tag: 'status',
      summary: "A node's phase history, paged",
      ...access,
      params: NODE_REF,
      query: historyQuery,
      responses: {
        200: { description: 'one page of history', schema: historyPageJson },
        404: 'no such node',
        ...AMBIGUOUS_REF,
      },
    },
    async (ctx, { query }) => {
      const node = await resolveNode(service, ctx.params.id!);
      const page = await service.historyPage(node.id, query);
      ctx.body = {
        node_id: node.id,
        mac: node.mac,
        total: page.total,
        ...query,
        entries: page.entries.map(historyToJson),
      };
    },
  );
  api.endpoint(
    {
      method: 'get',
      path: '/api/status/summary',
      tag: 'status',
      summary: 'Counts per phase, nodes in progress, failures, install durations',
      ...access,
      responses: { 200: { description: 'the summary', schema: summaryJson } },
    },
    async (ctx) => {
      ctx.body = await service.summary();
    },
  );
  return api;
}

const deploymentJson = nodeJson.extend({ last_event: historyJson.nullable() });
const historyPageJson = z
  .object({
    node_id: z.number().int(),
    mac: z.string(),
    total: z.number().int(),
    order: z.enum(['asc', 'desc']),
    limit: z.number().int(),
    offset: z.number().int(),
    entries: z.array(historyJson),
  })
  .strict();

/** Admin: list, create, edit, delete nodes; read a node's phone-home token. */
function adminRouter({ service, adminToken, profiles }: NodeRoutesOptions): ApiRouter {
  const api = new ApiRouter({ adminToken });
  const json = (node: Node) => nodeToJson(node, service.catalogue, allLabels);
  const nodeFields = (body: {
    hostname?: string | null;
    ip?: string | null;
    type?: string | null;
    profile?: string | null;
    cluster?: string | null;
    labels?: Record<string, string>;
    netboot_enabled?: boolean;
  }) => ({
    hostname: body.hostname,
    ip: body.ip,
    type: body.type,
    profile: body.profile,
    cluster: body.cluster,
    labels: body.labels,
    netbootEnabled: body.netboot_enabled,
  });
  api.endpoint(
    {
      method: 'get',
      path: '/api/nodes',
      tag: 'nodes',
      summary: 'List nodes, filtered',
      auth: 'admin',
      query: nodeListQuery,
      responses: { 200: { description: 'the nodes', schema: z.object({ nodes: z.array(nodeJson) }).strict() } },
    },
    async (ctx, { query }) => {
      const nodes = await service.list({
        cluster: query.cluster,
        profile: query.profile,
        deploymentStatus: query.phase,
        reprovisionStatus: query.reprovision_status,
        status: query.status,
        limit: query.limit,
        offset: query.offset,
      });
      ctx.body = { nodes: nodes.map(json) };
    },
  );
  api.endpoint(
    {
      method: 'post',
      path: '/api/nodes',
      tag: 'nodes',
      summary: 'Add a node',
      auth: 'admin',
      body: nodeCreateBody,
      responses: { 201: { description: 'the node', schema: nodeJson }, 409: 'a node with this MAC exists' },
    },
    async (ctx, { body }) => {
      refuseUnknownProfile(profiles, body.profile);
      if (await service.byMac(body.mac))
        throw conflict(`node ${body.mac} exists; edit it with PATCH /api/nodes/${body.mac}`);
      const node = await service.create(body.mac, nodeFields(body));
      ctx.status = 201;
      ctx.body = json(node);
    },
  );
  api.endpoint(
    {
      method: 'get',
      path: '/api/nodes/:id',
      tag: 'nodes',
      summary: 'A node',
      auth: 'admin',
      params: NODE_REF,
      responses: ONE_NODE,
    },
    async (ctx) => {
      ctx.body = json(await resolveNode(service, ctx.params.id!));
    },
  );
  api.endpoint(
    {
      method: 'patch',
      path: '/api/nodes/:id',
      tag: 'nodes',
      summary: 'Edit a node (null clears a field)',
      auth: 'admin',
      params: NODE_REF,
      body: nodeUpdateBody,
      responses: { 200: { description: 'the node', schema: nodeJson }, 404: 'no such node', ...AMBIGUOUS_REF },
    },
    async (ctx, { body }) => {
      refuseUnknownProfile(profiles, body.profile);
      const node = await resolveNode(service, ctx.params.id!);
      const updated = await service.update(node.id, nodeFields(body));
      ctx.body = json(updated!);
    },
  );
  api.endpoint(
    {
      method: 'delete',
      path: '/api/nodes/:id',
      tag: 'nodes',
      summary: 'Delete a node and its history',
      auth: 'admin',
      params: NODE_REF,
      responses: { 204: 'deleted', 404: 'no such node', ...AMBIGUOUS_REF },
    },
    async (ctx) => {
      const node = await resolveNode(service, ctx.params.id!);
      await service.delete(node.id);
      ctx.status = 204;
    },
  );
  api.endpoint(
    {
      method: 'get',
      path: '/api/nodes/:id/token',
      tag: 'nodes',
      summary: "The phone-home token of a node's open install round",
      auth: 'admin',
      params: NODE_REF,
      responses: {
        200: { description: 'the token', schema: z.object({ mac: z.string(), token: z.string() }).strict() },
        404: 'no such node',
        409: 'the node has no open install round (reprovision it), or the name matches several nodes',
      },
    },
    async (ctx) => {
      const node = await resolveNode(service, ctx.params.id!);
      if (!node.roundNonce || !isRoundOpen(node, Date.now()))
        throw conflict(`${node.mac} has no open install round; reprovision it to open one`);
      ctx.body = { mac: node.mac, token: roundToken(service.rounds.secret, node.mac, node.roundNonce) };
    },
  );
  return api;
}
