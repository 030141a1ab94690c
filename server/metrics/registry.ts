import type Koa from 'koa';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export function createRegistry(): Registry {
  const registry = new Registry();
  // No prefix: stock Node.js dashboards and alerts look for prom-client's standard process_* and nodejs_* names.
  collectDefaultMetrics({ register: registry });
  return registry;
}

export interface HttpMetrics {
  /** Records one answered request; `route` is the route pattern, never the raw path. */
  observe(route: string, method: string, status: number, seconds: number): void;
  /** The same for every request Koa serves. */
  middleware: Koa.Middleware;
}

/**
 * Counts and times every HTTP request. The route label is the matched route
 * pattern (e.g. /boot/:mac.ipxe), never the raw path, so MACs do not explode
 * the label set.
 */
export function createHttpMetrics(registry: Registry): HttpMetrics {
  const requests = new Counter({
    name: 'homeport_http_requests_total',
    help: 'HTTP requests by route, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'homeport_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['route', 'method'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const observe = (route: string, method: string, status: number, seconds: number) => {
    requests.inc({ route, method, status: String(status) });
    duration.observe({ route, method }, seconds);
  };
  const middleware: Koa.Middleware = async (ctx, next) => {
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const route = (ctx as unknown as { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
      observe(route, ctx.method, ctx.status, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
  return { observe, middleware };
}
