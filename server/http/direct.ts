import querystring from 'node:querystring';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { HttpMetrics } from '../metrics/registry.js';
import type { DirectContext, DirectRoute } from './api.js';
import { readBody } from './body.js';
import { errorJson, toHttpError } from './errors.js';

export interface DirectDispatchOptions {
  bodyLimitBytes: number;
  metrics: HttpMetrics;
  /** A 5xx: the error is logged, the client gets `{error, detail}`. */
  onServerError: (err: unknown, method: string, path: string) => void;
}

/**
 * Serves the routes declared with ApiRouter.directEndpoint before Koa sees
 * the request; every other request goes to Koa (`fallback`). The contract is
 * the same as through Koa (same body reader, schema, handler, `{error,
 * detail}` and metrics): only Koa's per-request machinery is skipped, which
 * took phase reports from about 365 to 266 µs of CPU each
 * (scripts/bench/phase-bench.ts with --cpu-prof).
 */
export function directDispatch(
  routes: DirectRoute[],
  options: DirectDispatchOptions,
  fallback: RequestListener,
): RequestListener {
  const table = new Map(routes.filter((r) => !r.match).map((route) => [`${route.method} ${route.path}`, route]));
  const patterns = routes.filter((r) => r.match);
  const find = (method: string | undefined, path: string) =>
    table.get(`${method} ${path}`) ?? patterns.find((r) => r.method === method && r.match!.test(path));
  return (req, res) => {
    const route = find(req.method, pathOf(req.url));
    if (!route) return fallback(req, res);
    serveDirect(route, req, res, options).catch((err: unknown) => {
      // Only answering itself can fail here (serveDirect answers every other error): never an unhandled rejection.
      options.onServerError(err, route.method, route.path);
      if (!res.headersSent) sendJson(res, 500, errorJson(toHttpError(err)));
      else res.destroy();
    });
  };
}

function pathOf(url = '/'): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}

async function serveDirect(
  route: DirectRoute,
  req: IncomingMessage,
  res: ServerResponse,
  options: DirectDispatchOptions,
): Promise<void> {
  const started = process.hrtime.bigint();
  const url = req.url ?? '/';
  const queryAt = url.indexOf('?');
  const headers: Record<string, string> = {};
  const ctx: DirectContext = {
    ip: req.socket.remoteAddress ?? '',
    path: pathOf(url),
    query: queryAt < 0 ? {} : querystring.parse(url.slice(queryAt + 1)),
    protocol: 'http',
    req,
    get: (field) => headerValue(req, field),
    set: (field, value) => void (headers[field.toLowerCase()] = value),
    type: '',
    status: 200,
    body: undefined,
  };
  try {
    await route.run(ctx, await readBody(req, options.bodyLimitBytes));
  } catch (err) {
    const httpError = toHttpError(err);
    if (httpError.status >= 500) options.onServerError(err, route.method, route.path);
    ctx.status = httpError.status;
    ctx.body = errorJson(httpError);
  }
  if (typeof ctx.body === 'string' && ctx.type) sendText(res, ctx.status, ctx.type, headers, ctx.body);
  else sendJson(res, ctx.status, ctx.body);
  options.metrics.observe(route.path, route.method, ctx.status, Number(process.hrtime.bigint() - started) / 1e9);
}

function headerValue(req: IncomingMessage, field: string): string {
  const value = req.headers[field.toLowerCase()];
  return Array.isArray(value) ? value.join(', ') : (value ?? '');
}

function sendText(
  res: ServerResponse,
  status: number,
  type: string,
  headers: Record<string, string>,
  text: string,
): void {
  if (res.destroyed) return;
  res.writeHead(status, { ...headers, 'content-type': type, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return; // the client went away; nothing to answer
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
