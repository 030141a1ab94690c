import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import Koa from 'koa';
import type { Registry } from 'prom-client';
import type { Logger } from '../log/logger';
import { httpMetricsMiddleware } from '../metrics/registry';
import { errorMiddleware } from './errors';

export interface HttpAppOptions {
  log: Logger;
  registry: Registry;
  bodyLimitKb: number;
  /** Routers of the domains (phone-home, boot, admin, ...), mounted in order. */
  routers: Router[];
  /** Health of the database, for /healthz. */
  checkDatabase: () => Promise<void>;
}

export function createHttpApp(options: HttpAppOptions): Koa {
  const app = new Koa();
  app.proxy = false;
  app.silent = true; // errors are handled and logged by errorMiddleware
  app.use(httpMetricsMiddleware(options.registry));
  app.use(
    errorMiddleware((err, ctx) => {
      options.log.error({ err, method: ctx.method, path: ctx.path }, 'request failed');
    }),
  );
  app.use(
    bodyParser({
      enableTypes: ['json', 'form'],
      jsonLimit: `${options.bodyLimitKb}kb`,
      formLimit: `${options.bodyLimitKb}kb`,
      // A JSON body must be an object or array; a bare string is a client error.
      jsonStrict: true,
    }),
  );
  const core = new Router();
  core.get('/healthz', async (ctx) => {
    try {
      await options.checkDatabase();
      ctx.body = { status: 'ok', database: 'ok' };
    } catch (err) {
      ctx.status = 503;
      ctx.body = { status: 'unhealthy', database: (err as Error).message };
    }
  });
  core.get('/metrics', async (ctx) => {
    ctx.type = options.registry.contentType;
    ctx.body = await options.registry.metrics();
  });
  for (const router of [core, ...options.routers]) app.use(router.routes()).use(router.allowedMethods());
  return app;
}
