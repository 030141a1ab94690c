/**
 * The OpenAPI 3.1 document, built from the routes' declarations (./api.ts):
 * request schemas are the zod schemas that validate requests, response
 * schemas the ones the presenters are typed with. Pure: routes in, document out.
 */
import { z } from 'zod';
import { zodToJsonSchema } from 'zod-to-json-schema';
import type { ResponseSpec, RouteSpec } from './api.js';

/** JSON Schema as it lands in the document. */
export type JsonSchema = Record<string, unknown>;

/** What every error answers (see ./errors.ts). */
export const errorJson = z
  .object({
    error: z.string().describe('machine-readable code'),
    detail: z.string().describe('what was wrong, naming the field'),
  })
  .strict();

const SECURITY_SCHEMES = {
  adminBearer: {
    type: 'http',
    scheme: 'bearer',
    description: 'The admin token (auth.adminTokenFile; printed once when it is created).',
  },
  nodeToken: {
    type: 'apiKey',
    in: 'header',
    name: 'X-Homeport-Token',
    description:
      "The node's phone-home token (rendered into its templates); may instead be sent as a `token` body field.",
  },
  monitoringSession: {
    type: 'apiKey',
    in: 'cookie',
    name: 'homeport_monitoring',
    description: 'Session cookie set by POST /monitoring/login.',
  },
};

const SECURITY: Record<RouteSpec['auth'], Record<string, string[]>[]> = {
  public: [],
  admin: [{ adminBearer: [] }],
  node: [{ nodeToken: [] }, {}], // {}: no token when auth.openPhoneHome is set (trusted labs)
  reader: [{}, { adminBearer: [] }, { monitoringSession: [] }], // {}: open unless monitoring.requireAdmin
};

/** A zod schema as JSON Schema (2019-09 output is valid 2020-12 for what zod produces), inlined. */
export function toJsonSchema(schema: z.ZodTypeAny): JsonSchema {
  const { $schema: _dialect, ...rest } = zodToJsonSchema(schema, {
    target: 'jsonSchema2019-09',
    $refStrategy: 'none',
    applyRegexFlags: true,
  }) as JsonSchema;
  return rest;
}

/** `/api/nodes/:id` -> `/api/nodes/{id}`. */
export function openApiPath(koaPath: string): string {
  return koaPath.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
}

export function pathParamNames(koaPath: string): string[] {
  return [...koaPath.matchAll(/:([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!);
}

function parameters(spec: RouteSpec): JsonSchema[] {
  const inPath = pathParamNames(spec.path).map((name) => ({
    name,
    in: 'path',
    required: true,
    description: spec.params?.[name],
    schema: { type: 'string' },
  }));
  if (!spec.query) return inPath;
  const query = toJsonSchema(spec.query) as {
    properties?: Record<string, JsonSchema & { description?: string }>;
    required?: string[];
  };
  const inQuery = Object.entries(query.properties ?? {}).map(([name, schema]) => ({
    name,
    in: 'query',
    required: query.required?.includes(name) ?? false,
    description: schema.description,
    schema,
  }));
  return [...inPath, ...inQuery];
}

function requestBody(spec: RouteSpec): JsonSchema | undefined {
  if (!spec.body) return undefined;
  const schema = toJsonSchema(spec.body);
  const content: JsonSchema = { 'application/json': { schema } };
  if (spec.acceptsForm) content['application/x-www-form-urlencoded'] = { schema };
  return { required: true, content };
}

function response(status: number, declared: ResponseSpec | string): JsonSchema {
  const spec: ResponseSpec =
    typeof declared === 'string' ? { description: declared, schema: status >= 400 ? errorJson : undefined } : declared;
  if (!spec.schema && !spec.contentType) return { description: spec.description };
  const media = spec.schema ? { schema: toJsonSchema(spec.schema) } : {};
  return { description: spec.description, content: { [spec.contentType ?? 'application/json']: media } };
}

/** The errors every route of a kind can answer, unless it declares its own. */
function implicitResponses(spec: RouteSpec): Record<number, string> {
  const implicit: Record<number, string> = {};
  if (spec.body || spec.query) implicit[400] = 'a field is missing or invalid; `detail` names it';
  if (spec.body) implicit[413] = 'the body is over http.bodyLimitKb';
  if (spec.auth === 'admin') implicit[401] = 'no admin token, or a wrong one';
  if (spec.auth === 'node') implicit[401] = "no node token, or not this node's";
  return implicit;
}

function operation(spec: RouteSpec): JsonSchema {
  const responses: Record<string, JsonSchema> = {};
  for (const [status, declared] of Object.entries({ ...implicitResponses(spec), ...spec.responses }))
    responses[status] = response(Number(status), declared);
  const op: JsonSchema = {
    operationId: `${spec.method}${openApiPath(spec.path)
      .replace(/[{}]/g, '')
      .replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
    tags: [spec.tag],
    summary: spec.summary,
    security: SECURITY[spec.auth],
    'x-homeport-auth': spec.auth,
    parameters: parameters(spec),
    responses,
  };
  if (spec.description) op.description = spec.description;
  const body = requestBody(spec);
  if (body) op.requestBody = body;
  return op;
}

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

export function buildOpenApi(routes: readonly RouteSpec[], info: OpenApiInfo): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const spec of routes) {
    const path = openApiPath(spec.path);
    const item = (paths[path] ??= {});
    if (item[spec.method]) throw new Error(`route declared twice: ${spec.method.toUpperCase()} ${spec.path}`);
    item[spec.method] = operation(spec);
  }
  return {
    openapi: '3.1.0',
    info,
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: { securitySchemes: SECURITY_SCHEMES },
  };
}
