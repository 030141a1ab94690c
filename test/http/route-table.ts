/**
 * The routes homeport actually serves, read from the @koa/router stacks of
 * the mounted routers (Homeport.routers), and their operations in the
 * OpenAPI document. The route-table tests walk this list, so a route added
 * anywhere is checked without anyone listing it.
 */
import type Router from '@koa/router';

export interface MountedRoute {
  method: string; // lower case: get, post, ...
  /** The layer's path: a Koa pattern or a RegExp. */
  layerPath: string | RegExp;
  regexp: RegExp;
}

export interface OpenApiOperation {
  'x-homeport-auth': 'public' | 'admin' | 'node' | 'reader';
  responses: Record<string, { content?: Record<string, { schema?: object }> }>;
  security?: unknown[];
  parameters?: { name: string; in: string }[];
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
}

export interface DocumentedRoute extends MountedRoute {
  /** The path as documented (`/api/nodes/{id}`). */
  path: string;
  operation: OpenApiOperation;
}

/** Route layers (router.use() middleware has no methods); HEAD is Koa's automatic twin of GET. */
export function mountedRoutes(routers: Router[]): MountedRoute[] {
  return routers.flatMap((router) =>
    router.stack.flatMap((layer) =>
      layer.methods
        .filter((m) => m !== 'HEAD')
        .map((m) => ({ method: m.toLowerCase(), layerPath: layer.path, regexp: layer.regexp })),
    ),
  );
}

/** `{param}` filled with a sample segment, to test a documented path against a RegExp route. */
export function samplePath(documented: string, value = 'x'): string {
  return documented.replace(/\{[^}]+\}/g, value);
}

const koaToOpenApi = (p: string) => p.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

/** The documented path of a mounted route, or undefined when the document lacks it. */
export function documentedPath(route: MountedRoute, document: OpenApiDocument): string | undefined {
  if (typeof route.layerPath === 'string') {
    const path = koaToOpenApi(route.layerPath);
    return document.paths[path]?.[route.method] ? path : undefined;
  }
  const regexp = route.layerPath;
  return Object.keys(document.paths).find((p) => document.paths[p]![route.method] && regexp.test(samplePath(p)));
}

/** Every mounted route with its operation; throws naming the routes the document lacks. */
export function documentedRoutes(routers: Router[], document: OpenApiDocument): DocumentedRoute[] {
  const mounted = mountedRoutes(routers);
  const missing = mounted
    .filter((r) => !documentedPath(r, document))
    .map((r) => `${r.method.toUpperCase()} ${String(r.layerPath)}`);
  if (missing.length)
    throw new Error(
      `routes served but missing from the OpenAPI document (declare them with ApiRouter.endpoint): ${missing.join(', ')}`,
    );
  return mounted.map((r) => {
    const path = documentedPath(r, document)!;
    return { ...r, path, operation: document.paths[path]![r.method]! };
  });
}
