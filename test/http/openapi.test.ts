import Router from '@koa/router';
import { Ajv2020 } from 'ajv/dist/2020.js';
import ajvFormats from 'ajv-formats';
import { expect } from 'chai';
import { z } from 'zod';
import { ApiRouter, type RouteSpec } from '../../server/http/api.js';
import { buildOpenApi, openApiPath } from '../../server/http/openapi.js';
import { registerBody } from '../../server/nodes/validation.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { documentedPath, documentedRoutes, mountedRoutes, type OpenApiDocument } from './route-table.js';

const info = { title: 't', version: '0' };
const route = (over: Partial<RouteSpec>): RouteSpec => ({
  method: 'get',
  path: '/x',
  tag: 't',
  summary: 's',
  auth: 'public',
  responses: { 200: 'ok' },
  ...over,
});

describe('OpenAPI: built from the route declarations', () => {
  it('turns Koa paths into OpenAPI paths', () => {
    const cases: [string, string][] = [
      ['/api/nodes', '/api/nodes'],
      ['/api/nodes/:id', '/api/nodes/{id}'],
      ['/api/nodes/:id/token', '/api/nodes/{id}/token'],
      ['/config/:mac/:name', '/config/{mac}/{name}'],
      ['/boot/:mac.ipxe', '/boot/{mac}.ipxe'],
    ];
    for (const [koa, openapi] of cases) expect(openApiPath(koa), koa).to.equal(openapi);
  });

  it('documents auth, parameters, body and the implicit errors of each kind of route', () => {
    const cases: { name: string; spec: RouteSpec; security: unknown[]; statuses: string[]; params: string[] }[] = [
      { name: 'public, no input', spec: route({}), security: [], statuses: ['200'], params: [] },
      {
        name: 'admin with a path parameter',
        spec: route({ path: '/n/:id', auth: 'admin' }),
        security: [{ adminBearer: [] }],
        statuses: ['200', '401'],
        params: ['id'],
      },
      {
        name: 'node with a body',
        spec: route({ method: 'post', auth: 'node', body: z.object({ a: z.string() }) }),
        security: [{ nodeToken: [] }, {}],
        statuses: ['200', '400', '401', '413'],
        params: [],
      },
      {
        name: 'reader with a query',
        spec: route({ auth: 'reader', query: z.object({ q: z.string().optional(), n: z.number() }) }),
        security: [{}, { adminBearer: [] }, { monitoringSession: [] }],
        statuses: ['200', '400'],
        params: ['q', 'n'],
      },
    ];
    for (const { name, spec, security, statuses, params } of cases) {
      const op = (buildOpenApi([spec], info) as unknown as OpenApiDocument).paths[openApiPath(spec.path)]![
        spec.method
      ]!;
      expect(op.security, name).to.deep.equal(security);
      expect(Object.keys(op.responses).sort(), name).to.deep.equal(statuses.sort());
      expect(
        op.parameters!.map((p) => p.name),
        name,
      ).to.deep.equal(params);
    }
  });

  it('uses the validating schema itself as the request body schema', () => {
    const doc = buildOpenApi(
      [route({ method: 'post', path: '/api/nodes/register', auth: 'node', body: registerBody, acceptsForm: true })],
      info,
    ) as {
      paths: Record<
        string,
        Record<
          string,
          {
            requestBody: {
              content: Record<
                string,
                { schema: { required: string[]; additionalProperties: boolean; properties: Record<string, object> } }
              >;
            };
          }
        >
      >;
    };
    const content = doc.paths['/api/nodes/register']!.post!.requestBody.content;
    expect(Object.keys(content)).to.deep.equal(['application/json', 'application/x-www-form-urlencoded']);
    const schema = content['application/json']!.schema;
    expect(schema.required).to.deep.equal(['mac']);
    expect(schema.additionalProperties).to.equal(false); // .strict(): unknown fields are refused, and the document says so
    expect(Object.keys(schema.properties)).to.include.members(['mac', 'hostname', 'ip', 'uuid', 'token']);
  });

  it('refuses a route declared twice', () => {
    expect(() => buildOpenApi([route({}), route({ summary: 'again' })], info)).to.throw(/declared twice: GET \/x/);
  });

  it('refuses an admin route on a router without the admin token', () => {
    expect(() => new ApiRouter().endpoint(route({ auth: 'admin' }), () => undefined)).to.throw(/admin route/);
  });
});

describe('OpenAPI: the served document against the real route table and real responses', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  let document: OpenApiDocument;
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  // ajv-formats is CommonJS: under NodeNext its default export is the module object, whose .default is the plugin.
  ajvFormats.default(ajv);

  /** Fails with ajv's words when a real body does not match the documented schema of that answer. */
  function expectDocumented(method: string, path: string, response: { status: number; body: unknown }): void {
    const op = document.paths[path]?.[method];
    expect(op, `${method} ${path} documented`).to.exist;
    const schema = op!.responses[String(response.status)]?.content?.['application/json']?.schema;
    expect(schema, `${method} ${path} documents a JSON ${response.status}`).to.exist;
    const valid = ajv.validate(schema!, response.body);
    expect(
      valid,
      `${method.toUpperCase()} ${path} ${response.status}: ${ajv.errorsText(ajv.errors)}\n${JSON.stringify(response.body)}`,
    ).to.equal(true);
  }

  before(async () => {
    hp = await startTestHomeport({
      env: { HOMEPORT_CLUSTERS: JSON.stringify({ lab: { driver: 'proxmox', expectedNodes: 2 } }) },
    });
    const served = await hp.request('GET', '/api/openapi.json');
    expect(served.status).to.equal(200);
    document = served.body as OpenApiDocument;
  });
  after(async () => hp?.stop());

  it('is OpenAPI 3.1 and a valid document for its own schemas', () => {
    expect(document.openapi).to.equal('3.1.0');
    for (const [path, item] of Object.entries(document.paths)) {
      for (const [method, op] of Object.entries(item)) {
        for (const [status, response] of Object.entries(op.responses)) {
          const schema = response.content?.['application/json']?.schema;
          if (schema)
            expect(ajv.validateSchema(schema), `${method} ${path} ${status}: ${ajv.errorsText(ajv.errors)}`).to.equal(
              true,
            );
        }
      }
    }
  });

  it('documents every route of every mounted router', () => {
    const routes = documentedRoutes(hp.homeport.routers, document); // throws naming any route the document lacks
    const keys = routes.map((r) => `${r.method} ${r.path}`);
    expect(keys).to.include.members([
      'get /healthz',
      'get /api/openapi.json',
      'post /api/nodes/register',
      'post /api/status/phase',
      'get /api/nodes/{id}',
      'get /boot/{mac}.ipxe',
      'get /assets/{path}',
      'get /monitoring',
      'get /api/clusters',
      'post /api/reprovision',
    ]);
    expect(new Set(keys).size, 'each route once').to.equal(keys.length);
  });

  it('would notice a route registered without its declaration', () => {
    const forgotten = new Router();
    forgotten.get('/api/forgotten', (ctx) => (ctx.body = {}));
    forgotten.get(/^\/blobs\/.+/, (ctx) => (ctx.body = {}));
    const plainOnApi = new ApiRouter();
    plainOnApi.post('/api/nodes/:id/reboot', (ctx) => (ctx.body = {}));
    for (const r of mountedRoutes([forgotten, plainOnApi]))
      expect(documentedPath(r, document), String(r.layerPath)).to.equal(undefined);
    expect(() => documentedRoutes([...hp.homeport.routers, forgotten], document)).to.throw(/GET \/api\/forgotten/);
  });

  it('matches what the endpoints really answer', async () => {
    const mac = '52:54:00:0a:00:01';
    const token = { 'x-homeport-token': await hp.tokenFor(mac, { ip: '10.9.0.11' }) };
    const created = await hp.request('POST', '/api/nodes/register', {
      body: { mac, hostname: 'pve1', ip: '10.9.0.11', cluster: 'lab' },
      headers: token,
    });
    expect(created.status, 'added by an admin (tokenFor), updated by register').to.equal(200);
    expectDocumented('post', '/api/nodes/register', created);
    expectDocumented(
      'post',
      '/api/nodes/register',
      await hp.request('POST', '/api/nodes/register', { body: { mac, hostname: 'pve1' }, headers: token }),
    );
    const phase = await hp.request('POST', '/api/status/phase', {
      body: { mac, phase: 'installation', progress: 40, message: 'unpacking' },
      headers: token,
    });
    expect(phase.status).to.equal(200);
    expectDocumented('post', '/api/status/phase', phase);
    await hp.request('POST', '/api/status/phase', {
      body: { mac, phase: 'failed', status: 'failed', message: 'disk' },
      headers: token,
    });
    const id = created.body.node.id as number;
    const reads: [string, string, string][] = [
      ['get', `/api/status/nodes/${mac}`, '/api/status/nodes/{id}'],
      ['get', '/api/status/deployment/10.9.0.11', '/api/status/deployment/{ip}'],
      ['get', `/api/status/history/${id}?order=desc&limit=5`, '/api/status/history/{id}'],
      ['get', '/api/status/summary', '/api/status/summary'],
      ['get', '/healthz', '/healthz'],
    ];
    for (const [method, url, path] of reads) {
      const response = await hp.request(method.toUpperCase(), url);
      expect(response.status, url).to.equal(200);
      expectDocumented(method, path, response);
    }
    const adminReads: [string, string][] = [
      ['/api/nodes?cluster=lab', '/api/nodes'],
      [`/api/nodes/${id}`, '/api/nodes/{id}'],
      [`/api/nodes/${id}/token`, '/api/nodes/{id}/token'],
      ['/api/clusters', '/api/clusters'],
      ['/api/clusters/lab', '/api/clusters/{name}'],
    ];
    for (const [url, path] of adminReads) {
      const response = await hp.request('GET', url, { admin: true });
      expect(response.status, url).to.equal(200);
      expectDocumented('get', path, response);
    }
    const clusters = await hp.request('GET', '/api/clusters', { admin: true });
    expect(clusters.body.clusters.map((c: { name: string }) => c.name)).to.include('lab'); // the schema was checked on a real cluster, not an empty list
    const patched = await hp.request('PATCH', `/api/nodes/${id}`, {
      body: { hostname: null, labels: { rack: 'r1' } },
      admin: true,
    });
    expectDocumented('patch', '/api/nodes/{id}', patched);
    const added = await hp.request('POST', '/api/nodes', {
      body: { mac: '52:54:00:0a:00:02', profile: 'debian' },
      admin: true,
    });
    expect(added.status).to.equal(201);
    expectDocumented('post', '/api/nodes', added);
  });

  it('matches the error answers too', async () => {
    const errors: [string, string, string, { body?: unknown; admin?: boolean }, number][] = [
      ['get', '/api/status/nodes/52:54:00:0a:ff:ff', '/api/status/nodes/{id}', {}, 404],
      ['get', '/api/status/nodes/not_a%3Bnode', '/api/status/nodes/{id}', {}, 400],
      ['get', '/api/nodes', '/api/nodes', {}, 401],
      ['post', '/api/nodes/register', '/api/nodes/register', { body: { mac: '52:54:00:0a:00:09' } }, 404],
      ['post', '/api/status/phase', '/api/status/phase', { body: { phase: 'installation' } }, 400],
      ['post', '/api/nodes', '/api/nodes', { body: { mac: '52:54:00:0a:00:03' }, admin: true }, 201],
      ['post', '/api/nodes', '/api/nodes', { body: { mac: '52:54:00:0a:00:03' }, admin: true }, 409],
      ['post', '/api/nodes/register', '/api/nodes/register', { body: { mac: '52:54:00:0a:00:03' } }, 401],
      ['post', '/api/nodes', '/api/nodes', { body: { mac: '52:54:00:0a:00:04', hostname: 'twin' }, admin: true }, 201],
      ['post', '/api/nodes', '/api/nodes', { body: { mac: '52:54:00:0a:00:05', hostname: 'twin' }, admin: true }, 201],
      ['get', '/api/status/nodes/twin', '/api/status/nodes/{id}', {}, 409],
      ['get', '/api/nodes/twin/token', '/api/nodes/{id}/token', { admin: true }, 409],
    ];
    for (const [method, url, path, options, status] of errors) {
      const response = await hp.request(method.toUpperCase(), url, options);
      expect(response.status, `${method} ${url}`).to.equal(status);
      expectDocumented(method, path, response);
    }
  });
});
