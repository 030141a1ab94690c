/**
 * Authentication on every route (issue 11), driven by the route table: the
 * routes come from the mounted routers' stacks and their auth from the OpenAPI
 * document, so a route added later is checked without being listed here.
 */
import { expect } from 'chai';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { documentedRoutes, samplePath, type DocumentedRoute, type OpenApiDocument } from './route-table.js';

/**
 * The routes anyone may call. A new public route must be added here on
 * purpose: the test fails for a route declared public that is not listed.
 */
const PUBLIC_ROUTES = new Set([
  'get /healthz',
  'get /metrics',
  'get /api/openapi.json',
  'get /boot.ipxe',
  'get /boot/{mac}.ipxe',
  'get /config/{mac}/{name}',
  'post /config/{mac}/{name}',
  'get /assets/{path}',
  'get /ipxe/{path}',
  'get /clients/{name}',
  'get /monitoring/login',
  'post /monitoring/login',
  'post /monitoring/logout',
]);

/** Bodies that would change something if the route let the caller through. */
const MUTATING_BODIES: Record<string, unknown> = {
  'post /api/nodes': { mac: '52:54:00:0b:00:99', hostname: 'intruder' },
  'patch /api/nodes/{id}': { hostname: 'intruder', netboot_enabled: false },
  'post /api/reprovision': { all: true },
};

const MAC_A = '52:54:00:0b:00:01';
const MAC_B = '52:54:00:0b:00:02';

const keyOf = (r: DocumentedRoute) => `${r.method} ${r.path}`;

/** Status and Location of one call, without reading the body (an event stream never ends). */
async function call(
  baseUrl: string,
  method: string,
  url: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; location: string | null; setCookie: string | null }> {
  const init: RequestInit = { method: method.toUpperCase(), headers: { ...headers }, redirect: 'manual' };
  if (body !== undefined) {
    (init.headers as Record<string, string>)['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(baseUrl + url, init);
  await response.body?.cancel();
  return {
    status: response.status,
    location: response.headers.get('location'),
    setCookie: response.headers.get('set-cookie'),
  };
}

async function routeTable(hp: TestHomeport): Promise<DocumentedRoute[]> {
  const document = (await hp.request('GET', '/api/openapi.json')).body as OpenApiDocument;
  return documentedRoutes(hp.homeport.routers, document);
}

describe('auth on every route, from the route table', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  let routes: DocumentedRoute[];
  let idA: number;
  let idB: number;

  /** A concrete URL for a documented path: real node, cluster and client names, so a let-through call would act. */
  const urlOf = (path: string) =>
    path
      .replace('{id}', String(idA))
      .replace('{name}', path.startsWith('/clients/') ? 'homeport-report.sh' : 'lab')
      .replace('{mac}', MAC_A.replace(/:/g, '-'))
      .replace('{ip}', '10.9.1.11')
      .replace(/\{[^}]+\}/g, 'x');

  /** What an attacker could change: nodes, their history, the summary, clusters. */
  async function state(): Promise<string> {
    const reads = await Promise.all(
      [
        '/api/nodes',
        `/api/status/history/${idA}`,
        `/api/status/history/${idB}`,
        '/api/status/summary',
        '/api/clusters',
      ].map((u) => hp.request('GET', u, { admin: true })),
    );
    for (const r of reads) expect(r.status).to.equal(200);
    return JSON.stringify(reads.map((r) => r.body));
  }

  before(async () => {
    hp = await startTestHomeport({
      env: { HOMEPORT_CLUSTERS: JSON.stringify({ lab: { driver: 'proxmox', expectedNodes: 2 } }) },
    });
    for (const [mac, ip] of [
      [MAC_A, '10.9.1.11'],
      [MAC_B, '10.9.1.12'],
    ] as const) {
      const r = await hp.request('POST', '/api/nodes/register', {
        body: { mac, ip, cluster: 'lab' },
        headers: { 'x-homeport-token': await hp.tokenFor(mac, { ip }) },
      });
      expect(r.status).to.equal(200);
    }
    idA = (await hp.request('GET', `/api/status/nodes/${MAC_A}`)).body.id;
    idB = (await hp.request('GET', `/api/status/nodes/${MAC_B}`)).body.id;
    routes = await routeTable(hp);
  });
  after(async () => hp?.stop());

  it('answers 401 on every admin route without a token, with a wrong one and with a node token, and changes nothing', async () => {
    const admin = routes.filter((r) => r.operation['x-homeport-auth'] === 'admin');
    expect(admin.map(keyOf)).to.include.members([
      'get /api/nodes',
      'post /api/nodes',
      'patch /api/nodes/{id}',
      'delete /api/nodes/{id}',
      'get /api/nodes/{id}/token',
      'post /api/reprovision',
      'get /api/clusters',
      'post /api/clusters/{name}/form',
    ]);
    const before = await state();
    const attempts: Record<string, Record<string, string>> = {
      'no token': {},
      'a wrong token': { authorization: 'Bearer not-the-admin-token' },
      "a node's token": {
        authorization: `Bearer ${await hp.tokenFor(MAC_A)}`,
        'x-homeport-token': await hp.tokenFor(MAC_A),
      },
    };
    for (const route of admin) {
      for (const [what, headers] of Object.entries(attempts)) {
        const response = await call(
          hp.baseUrl,
          route.method,
          urlOf(route.path),
          headers,
          MUTATING_BODIES[keyOf(route)] ?? (route.method === 'get' || route.method === 'delete' ? undefined : {}),
        );
        expect(response.status, `${keyOf(route)} with ${what}`).to.equal(401);
      }
    }
    expect(await state(), 'nothing changed').to.equal(before);
    // The same bodies with the token do act, so "nothing changed" above means something.
    expect(
      (await hp.request('PATCH', `/api/nodes/${idA}`, { body: MUTATING_BODIES['patch /api/nodes/{id}'], admin: true }))
        .status,
    ).to.equal(200);
    expect(await state()).to.not.equal(before);
  });

  it('keeps public routes public, and only the listed ones', async () => {
    const declaredPublic = routes.filter((r) => r.operation['x-homeport-auth'] === 'public').map(keyOf);
    expect(
      declaredPublic.filter((k) => !PUBLIC_ROUTES.has(k)),
      'public routes not in PUBLIC_ROUTES',
    ).to.deep.equal([]);
    const served = new Set(routes.map(keyOf));
    expect(
      [...PUBLIC_ROUTES].filter((k) => !served.has(k)),
      'PUBLIC_ROUTES that are no longer served',
    ).to.deep.equal([]);
    for (const route of routes.filter((r) => PUBLIC_ROUTES.has(keyOf(r)))) {
      const response = await call(hp.baseUrl, route.method, urlOf(route.path));
      expect(response.status, keyOf(route)).to.not.be.oneOf([401, 403]);
      expect(response.location ?? '', keyOf(route)).to.not.match(/\/login/);
    }
  });

  it("refuses a node's token for another node's phases and registration", async () => {
    const tokenA = { 'x-homeport-token': await hp.tokenFor(MAC_A) };
    const before = await state();
    const forged: [string, string, unknown, Record<string, string>][] = [
      ['register as B with A token', '/api/nodes/register', { mac: MAC_B, hostname: 'stolen' }, tokenA],
      [
        "B's phase by MAC with A token",
        '/api/status/phase',
        { mac: MAC_B, phase: 'deployed', status: 'completed' },
        tokenA,
      ],
      [
        "B's phase by node_id with A token",
        '/api/status/phase',
        { node_id: idB, phase: 'deployed', status: 'completed' },
        tokenA,
      ],
      [
        "B's phase by IP with A token",
        '/api/status/phase',
        { ip: '10.9.1.12', phase: 'deployed', status: 'completed' },
        tokenA,
      ],
      [
        "B's phase with A token in the body",
        '/api/status/phase',
        { mac: MAC_B, phase: 'deployed', status: 'completed', token: await hp.tokenFor(MAC_A) },
        {},
      ],
      [
        "B's phase with A token as bearer",
        '/api/status/phase',
        { mac: MAC_B, phase: 'deployed', status: 'completed' },
        { authorization: `Bearer ${await hp.tokenFor(MAC_A)}` },
      ],
      [
        "B's phase with the admin token",
        '/api/status/phase',
        { mac: MAC_B, phase: 'deployed', status: 'completed' },
        { authorization: `Bearer ${hp.adminToken}` },
      ],
      ["B's phase with no token", '/api/status/phase', { mac: MAC_B, phase: 'deployed', status: 'completed' }, {}],
      ['register B with no token', '/api/nodes/register', { mac: MAC_B, hostname: 'stolen' }, {}],
    ];
    for (const [what, url, body, headers] of forged)
      expect((await call(hp.baseUrl, 'post', url, headers, body)).status, what).to.equal(401);
    expect(
      (await call(hp.baseUrl, 'post', '/api/nodes/register', tokenA, { mac: '52:54:00:0b:00:77' })).status,
      'register a new MAC with A token',
    ).to.equal(404);
    expect(await state(), 'nothing changed').to.equal(before);
    expect(
      (await call(hp.baseUrl, 'post', '/api/status/phase', tokenA, { mac: MAC_A, phase: 'installation' })).status,
      "A's own report",
    ).to.equal(200);
  });

  it('serves the status page open by default and behind the admin login with monitoring.requireAdmin', async () => {
    const reader = routes.filter((r) => r.operation['x-homeport-auth'] === 'reader');
    expect(reader.map(keyOf)).to.include.members([
      'get /monitoring',
      'get /monitoring/nodes/{id}',
      'get /api/events',
      'get /api/status/nodes/{id}',
      'get /api/status/deployment/{ip}',
      'get /api/status/history/{id}',
      'get /api/status/summary',
    ]);
    expect((await call(hp.baseUrl, 'get', `/monitoring/nodes/${idA}`)).status, 'open: a real node page').to.equal(200);
    // Let in: anything but 401 or the login redirect (a 404 for an id that is not a job is still "let in").
    const letIn = (r: { status: number; location: string | null }) =>
      r.status !== 401 && !/\/monitoring\/login/.test(r.location ?? '');
    for (const route of reader)
      expect(letIn(await call(hp.baseUrl, route.method, urlOf(route.path))), `open: ${keyOf(route)}`).to.equal(true);

    const locked = await startTestHomeport({ env: { HOMEPORT_MONITORING__REQUIREADMIN: 'true' } });
    try {
      const node = await locked.request('POST', '/api/nodes', { body: { mac: MAC_A }, admin: true });
      const url = (path: string) => samplePath(path.replace('{id}', String(node.body.id)));
      const login = await fetch(locked.baseUrl + '/monitoring/login', {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: locked.adminToken }).toString(),
      });
      expect(login.status).to.equal(303);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      for (const route of reader) {
        const denied = (r: { status: number; location: string | null }) =>
          route.path.startsWith('/api/')
            ? r.status === 401
            : r.status === 303 && /^\/monitoring\/login\?next=/.test(r.location ?? '');
        const strangers: Record<string, Record<string, string>> = {
          'no token': {},
          'a wrong token': { authorization: 'Bearer wrong' },
          "a node's token": { authorization: `Bearer ${await locked.tokenFor(MAC_A)}` },
          'a forged cookie': {
            cookie: 'homeport_monitoring=9999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          },
        };
        for (const [what, headers] of Object.entries(strangers)) {
          const r = await call(locked.baseUrl, route.method, url(route.path), headers);
          expect(denied(r), `locked: ${keyOf(route)} with ${what} answered ${r.status} ${r.location ?? ''}`).to.equal(
            true,
          );
        }
        expect(
          letIn(
            await call(locked.baseUrl, route.method, url(route.path), { authorization: `Bearer ${locked.adminToken}` }),
          ),
          `locked: ${keyOf(route)} with the admin token`,
        ).to.equal(true);
        expect(
          letIn(await call(locked.baseUrl, route.method, url(route.path), { cookie })),
          `locked: ${keyOf(route)} after login`,
        ).to.equal(true);
      }
    } finally {
      await locked.stop();
    }
  });
});
