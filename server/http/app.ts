import type { RequestListener } from 'node:http';
import type Router from '@koa/router';
import Koa from 'koa';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import type { Logger } from '../log/logger.js';
import { createHttpMetrics } from '../metrics/registry.js';
import { ApiRouter } from './api.js';
import { bodyMiddleware } from './body.js';
import { directDispatch } from './direct.js';
import { errorMiddleware } from './errors.js';
import { HOMEPORT_VERSION } from '../util/version.js';
import { buildOpenApi } from './openapi.js';

export interface HttpAppOptions {
  log: Logger;
  registry: Registry;
  bodyLimitKb: number;
  /** Routers of the domains (phone-home, boot, admin, ...), mounted in order; the routes of ApiRouters make the OpenAPI document. */
  routers: Router[];
  /** Health of the database, for /healthz. */
  checkDatabase: () => Promise<void>;
}

export interface HttpApp {
  app: Koa;
  /** Every router mounted, core first (the route-table tests walk their stacks). */
  routers: Router[];
  /** What the HTTP server calls: the direct routes (./direct.ts), then Koa. */
  listener: RequestListener;
}

export function createHttpApp(options: HttpAppOptions): HttpApp {
  const app = new Koa();
  app.proxy = false;
  app.silent = true; // errors are handled and logged by errorMiddleware
  const metrics = createHttpMetrics(options.registry);
  const logServerError = (err: unknown, method: string, path: string) =>
    options.log.error({ err, method, path }, 'request failed');
  const bodyLimitBytes = options.bodyLimitKb * 1024;
  app.use(metrics.middleware);
  app.use(errorMiddleware((err, ctx) => logServerError(err, ctx.method, ctx.path)));
  app.use(bodyMiddleware(bodyLimitBytes));
  const core = coreRouter(options);
  const routers = [core, ...options.routers];
  let document: object = {};
  core.endpoint(
    {
      method: 'get',
      path: '/api/openapi.json',
      tag: 'meta',
      summary: 'This OpenAPI 3.1 document',
      description:
        'Public: it describes the contract and holds no data; clients and tools need it before they have a token.',
      auth: 'public',
      responses: { 200: { description: 'the document', contentType: 'application/json' } },
    },
    (ctx) => {
      ctx.body = document;
    },
  );
  // Built once, at start: a route declared twice fails here, not on a request.
  document = buildOpenApi(
    routers.flatMap((r) => (r instanceof ApiRouter ? r.endpoints : [])),
    {
      title: 'homeport',
      version: HOMEPORT_VERSION,
      description: "Network-boot server with a phone-home API. Generated from the routes' own request schemas.",
    },
  );
  for (const router of routers) app.use(router.routes()).use(router.allowedMethods());
  const directRoutes = routers.flatMap((r) => (r instanceof ApiRouter ? r.directRoutes : []));
  const listener = directDispatch(
    directRoutes,
    { bodyLimitBytes, metrics, onServerError: logServerError },
    app.callback(),
  );
  return { app, routers, listener };
}

const healthJson = z
  .object({
    status: z.enum(['ok', 'unhealthy']),
    database: z
      .enum(['ok', 'error'])
      .describe('error: the database is not reachable (the reason is in the log, not here: anyone may ask)'),
  })
  .strict();

/** Health and metrics, for probes and Prometheus. */
function coreRouter(options: HttpAppOptions): ApiRouter {
  const core = new ApiRouter();
  core.endpoint(
    {
      method: 'get',
      path: '/healthz',
      tag: 'meta',
      summary: 'Liveness and database health',
      auth: 'public',
      responses: {
        200: { description: 'healthy', schema: healthJson },
        503: { description: 'the database is not reachable', schema: healthJson },
      },
    },
    async (ctx) => {
      try {
        await options.checkDatabase();
        ctx.body = { status: 'ok', database: 'ok' };
      } catch (err) {
        // Anyone may ask; a driver's message can hold paths, host names or a connection URL: those go to the log only.
        options.log.warn({ err }, 'healthz: database check failed');
        ctx.status = 503;
        ctx.body = { status: 'unhealthy', database: 'error' };
      }
    },
  );
  core.endpoint(
    {
      method: 'get',
      path: '/metrics',
      tag: 'meta',
      summary: 'Prometheus metrics',
      auth: 'public',
      responses: { 200: { description: 'metrics in the Prometheus text format', contentType: 'text/plain' } },
    },
    async (ctx) => {
      ctx.type = options.registry.contentType;
      ctx.body = await options.registry.metrics();
    },
  );
  return core;
}
