import type { IncomingMessage } from 'node:http';
/**
 * Every HTTP route is declared once, with its contract, through an ApiRouter:
 * the declaration registers the route on a @koa/router AND records the
 * metadata from which GET /api/openapi.json is built (./openapi.ts). The zod
 * schemas given as `body` and `query` are the ones that validate the request,
 * so the document cannot drift from what the server accepts; `auth: 'admin'`
 * both documents and enforces the admin token.
 *
 * Declaring a new route:
 *
 *   const api = new ApiRouter({ adminToken });            // adminToken: only if it has admin routes
 *   api.endpoint(
 *     {
 *       method: 'post',
 *       path: '/api/jobs/:id/cancel',                      // Koa syntax; `:id` becomes {id} in the document
 *       tag: 'jobs',
 *       summary: 'Cancel a queued job',
 *       auth: 'admin',                                     // 'public' | 'admin' | 'node' | 'reader', see RouteAuth
 *       params: { id: 'job id' },
 *       body: cancelBody,                                  // zod; parsed before the handler, 400 on a bad field
 *       query: listQuery,                                  // zod object; same
 *       responses: { 200: { description: 'the job', schema: jobJson }, 404: 'no such job', 409: 'job already finished' },
 *     },
 *     async (ctx, { body, query }) => { ctx.body = ... },  // body and query typed from the schemas
 *   );
 *   return [api];                                          // an ApiRouter is a Router: mount it as before (server/main.ts)
 *
 * `directEndpoint` declares a route the same way and also serves it in front
 * of Koa (./direct.ts): for the phone-home calls a whole rack makes at once.
 *
 * A route registered with router.get()/post() (on a plain Router or an
 * ApiRouter) does not reach the document, and test/http/route-table.test.ts,
 * which walks the mounted routers' stacks, fails.
 */
import Router, { type RouterContext } from '@koa/router';
import type Koa from 'koa';
import type { z } from 'zod';
import { requireAdmin } from '../auth/middleware.js';
import { parseBody, parseQuery } from './validation.js';

/**
 * Who may call a route:
 * - public: anyone (boot scripts, health, metrics, this document);
 * - admin: `Authorization: Bearer <admin token>`, enforced by ApiRouter;
 * - node: the node's phone-home token (X-Homeport-Token or a `token` field), checked by the handler once it knows the MAC;
 * - reader: the status page: public, or admin (token or login session) with monitoring.requireAdmin; enforced by the route's `use`.
 */
export type RouteAuth = 'public' | 'admin' | 'node' | 'reader';
export type RouteMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

export interface ResponseSpec {
  description: string;
  /** The JSON body's schema (responses built by the presenters are typed from it). */
  schema?: z.ZodTypeAny;
  /** Default application/json; text/plain, text/html, text/event-stream, ... for the others. */
  contentType?: string;
}

export interface RouteSpec<
  B extends z.ZodTypeAny | undefined = z.ZodTypeAny | undefined,
  Q extends z.ZodTypeAny | undefined = z.ZodTypeAny | undefined,
> {
  method: RouteMethod;
  /** Koa path syntax (`/api/nodes/:id`); with `match`, the path as documented. */
  path: string;
  /** A regular expression Koa matches instead of `path` (paths path-to-regexp cannot express). */
  match?: RegExp;
  /** Groups operations in the document: nodes, status, boot, monitoring, clusters, ... */
  tag: string;
  summary: string;
  description?: string;
  auth: RouteAuth;
  /** Description of each path parameter. */
  params?: Record<string, string>;
  body?: B;
  /** The body may also come as an HTML/curl form (shell clients and the login page). */
  acceptsForm?: boolean;
  query?: Q;
  /** By status; a string is a description of an error answered as `{error, detail}`. */
  responses: Record<number, ResponseSpec | string>;
  /** Middleware run before validation and the handler (e.g. the status page's reader check). */
  use?: Koa.Middleware[];
  /**
   * Answers any error of this route itself (validation included) instead of
   * the JSON error: the boot scripts answer an iPXE script, since iPXE does
   * not run the body of a 4xx. Runs on the direct path and under Koa alike.
   */
  recover?: (ctx: DirectContext, err: unknown) => void;
}

/**
 * What a direct route's handler may use of the request. Koa's context has
 * all of it, so one handler serves both the direct path and Koa.
 */
export interface DirectContext {
  readonly ip: string;
  readonly path: string;
  /** The query string, parsed as Koa parses it (a key given twice is an array). */
  readonly query: Record<string, string | string[] | undefined>;
  readonly protocol: string;
  readonly req: IncomingMessage;
  /** A request header, '' when absent (as Koa's ctx.get). */
  get(field: string): string;
  /** Sets a response header. */
  set(field: string, value: string): void;
  /** The response's content type; a string body is sent as it is with it, anything else as JSON. */
  type: string;
  status: number;
  body: unknown;
}

/** A route served before Koa: exact method and path (or `match`), its body and query parsed and validated by `run`. */
export interface DirectRoute {
  method: string;
  path: string;
  match?: RegExp;
  run(ctx: DirectContext, body: unknown): Promise<void>;
}

type Parsed<S> = S extends z.ZodTypeAny ? z.output<S> : undefined;
export type RouteInput<B, Q> = { body: Parsed<B>; query: Parsed<Q> };
export type RouteHandler<B, Q> = (ctx: RouterContext, input: RouteInput<B, Q>) => unknown;
export type DirectHandler<B, Q = undefined> = (ctx: DirectContext, input: RouteInput<B, Q>) => unknown;

/** The body and query as the route's schemas parse them (400 naming the field otherwise). */
function routeInput<B extends z.ZodTypeAny | undefined, Q extends z.ZodTypeAny | undefined>(
  spec: RouteSpec<B, Q>,
  body: unknown,
  query: unknown,
): RouteInput<B, Q> {
  return {
    body: spec.body ? parseBody(spec.body, body) : undefined,
    query: spec.query ? parseQuery(spec.query, query) : undefined,
  } as RouteInput<B, Q>;
}

/** A @koa/router Router (mount it like one) whose routes carry their contract. */
export class ApiRouter extends Router {
  readonly endpoints: RouteSpec[] = [];
  readonly directRoutes: DirectRoute[] = [];
  private readonly adminTokenValue: string | undefined;

  constructor(options: { adminToken?: string } = {}) {
    super();
    this.adminTokenValue = options.adminToken;
  }

  endpoint<B extends z.ZodTypeAny | undefined = undefined, Q extends z.ZodTypeAny | undefined = undefined>(
    spec: RouteSpec<B, Q>,
    handler: RouteHandler<B, Q>,
  ): this {
    const middleware: Koa.Middleware[] = [];
    if (spec.auth === 'admin') middleware.push(requireAdmin(this.adminToken(spec)));
    middleware.push(...(spec.use ?? []));
    const { recover } = spec;
    middleware.push(async (ctx) => {
      try {
        await handler(ctx as RouterContext, routeInput(spec, ctx.request.body, ctx.query));
      } catch (err) {
        if (!recover) throw err;
        recover(ctx as unknown as DirectContext, err);
      }
    });
    const path = spec.match ?? spec.path;
    // As router.get() & co. register: the router's options, and a RegExp taken as one.
    this.register(path, [spec.method.toUpperCase()], middleware, {
      ...this.opts,
      pathAsRegExp: path instanceof RegExp,
    });
    this.endpoints.push(spec as RouteSpec);
    return this;
  }

  /**
   * An endpoint also served by the direct dispatcher in front of Koa
   * (./direct.ts), with the same body reader, schema, handler, errors and
   * metrics. Only for a static path with no query and no middleware: the
   * installers' register and phase calls, where Koa's stack was a third of
   * the cost of a report (measured with scripts/bench/phase-bench.ts).
   */
  directEndpoint<B extends z.ZodTypeAny | undefined = undefined, Q extends z.ZodTypeAny | undefined = undefined>(
    spec: RouteSpec<B, Q>,
    handler: DirectHandler<B, Q>,
  ): this {
    if (spec.auth === 'admin' || spec.use || (spec.path.includes(':') && !spec.match)) {
      throw new Error(
        `${spec.method.toUpperCase()} ${spec.path}: a direct endpoint has a static path or a match, no admin auth and no middleware`,
      );
    }
    const { recover } = spec;
    this.directRoutes.push({
      method: spec.method.toUpperCase(),
      path: spec.path,
      match: spec.match,
      run: async (ctx, body) => {
        try {
          await handler(ctx, routeInput(spec, body, ctx.query));
        } catch (err) {
          if (!recover) throw err;
          recover(ctx, err);
        }
      },
    });
    return this.endpoint(spec, handler);
  }

  private adminToken(spec: RouteSpec<z.ZodTypeAny | undefined, z.ZodTypeAny | undefined>): string {
    if (!this.adminTokenValue)
      throw new Error(
        `${spec.method.toUpperCase()} ${spec.path} is an admin route: create its ApiRouter with { adminToken }`,
      );
    return this.adminTokenValue;
  }
}
