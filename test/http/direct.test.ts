import { expect } from 'chai';
import http from 'node:http';
import { ApiRouter } from '../../server/http/api.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';

const MAC = '52:54:00:d1:00:01';

/** A POST whose headers promise more than the limit; resolves with the status once answered, before any body is sent. */
function postPromisingBytes(
  baseUrl: string,
  urlPath: string,
  bytes: number,
): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      baseUrl + urlPath,
      { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(bytes) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) });
        });
      },
    );
    req.on('error', reject);
    req.flushHeaders();
  });
}

describe('direct routes (server/http/direct.ts): the phone-home calls served before Koa, with the same contract', function () {
  this.timeout(30_000);
  let hp: TestHomeport;

  before(async () => {
    hp = await startTestHomeport();
    expect(
      (
        await hp.request('POST', '/api/nodes/register', {
          body: { mac: MAC, hostname: 'direct-1' },
          headers: { 'x-homeport-token': await hp.tokenFor(MAC) },
        })
      ).status,
    ).to.equal(200);
  });
  after(async () => hp?.stop());

  // '/api/status/phase/' (trailing slash) is not in the direct table, so Koa
  // serves it through the same handler: the two answers must agree.
  const viaDirectAndKoa = async (options: { body: unknown; headers?: Record<string, string> }) =>
    Promise.all(['/api/status/phase', '/api/status/phase/'].map((url) => hp.request('POST', url, options)));

  it('answers bad input exactly as Koa does, and writes nothing', async () => {
    const token = { 'x-homeport-token': await hp.tokenFor(MAC) };
    const cases: { body: unknown; headers?: Record<string, string> }[] = [
      { body: { mac: MAC, phase: 'teleporting' }, headers: token },
      { body: { mac: MAC, phase: 'installation', status: 'almost' }, headers: token },
      { body: { mac: MAC, phase: 'installation' }, headers: { 'x-homeport-token': 'wrong' } },
      { body: { mac: MAC, phase: 'installation' } },
      { body: { mac: '52:54:00:d1:00:99', phase: 'installation' }, headers: token },
      { body: '{"mac": "52:54', headers: token },
      { body: '"installation"', headers: token },
      { body: '{"__proto__": {"admin": true}}', headers: token },
      { body: 'mac=a&mac=b', headers: { ...token, 'content-type': 'application/x-www-form-urlencoded' } },
      { body: 'mac=52:54:00:d1:00:01', headers: { ...token, 'content-type': 'text/plain' } },
      { body: '{}', headers: { ...token, 'content-encoding': 'gzip' } },
      { body: '{}', headers: { ...token, 'content-type': 'application/json; charset=latin1' } },
      { body: { mac: MAC, phase: 'installation', message: 'x'.repeat(100 * 1024) }, headers: token },
    ];
    const expected = [400, 400, 401, 401, 404, 400, 400, 400, 400, 415, 415, 415, 413];
    for (const [i, options] of cases.entries()) {
      const [direct, koa] = await viaDirectAndKoa(options);
      expect(direct!.status, `case ${i}: ${direct!.text}`).to.equal(expected[i]);
      expect(direct!.body, `case ${i}`).to.deep.equal(koa!.body);
      expect(direct!.status, `case ${i}`).to.equal(koa!.status);
      expect(direct!.headers.get('content-type'), `case ${i}`).to.equal('application/json; charset=utf-8');
    }
    const history = await hp.request('GET', `/api/status/history/${MAC}`);
    expect(history.body.total, 'only the registration').to.equal(1);
  });

  it('records a report the same way on both paths, with a query string or a form body', async () => {
    const token = await hp.tokenFor(MAC);
    const [direct, koa] = await viaDirectAndKoa({ body: { mac: MAC, phase: 'installation', progress: 10, token } });
    expect(direct!.status).to.equal(200);
    expect(koa!.status).to.equal(200);
    expect(Object.keys(direct!.body)).to.deep.equal(Object.keys(koa!.body));
    expect(direct!.body.node.deployment_status).to.equal('installation');
    const form = await hp.request('POST', '/api/status/phase?from=busybox', {
      body: `mac=${MAC}&phase=installation&status=completed&token=${token}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(form.status, form.text).to.equal(200);
    expect(form.body.entry.status).to.equal('completed');
    const history = await hp.request('GET', `/api/status/history/${MAC}?order=asc`);
    expect(
      history.body.entries.map((e: { phase: string; status: string; source_ip: string }) => [
        e.phase,
        e.status,
        e.source_ip,
      ]),
    ).to.deep.equal([
      ['registered', 'completed', '127.0.0.1'],
      ['installation', 'in_progress', '127.0.0.1'],
      ['installation', 'in_progress', '127.0.0.1'],
      ['installation', 'completed', '127.0.0.1'],
    ]);
  });

  it('refuses a body whose Content-Length is over the limit before reading it', async () => {
    const answer = await postPromisingBytes(hp.baseUrl, '/api/status/phase', 50 * 1024 * 1024);
    expect(answer).to.deep.equal({
      status: 413,
      body: { error: 'payload_too_large', detail: 'request body is over the size limit' },
    });
  });

  it('leaves other methods on the same path to Koa', async () => {
    const get = await hp.request('GET', '/api/status/phase');
    expect(get.status).to.equal(405);
    expect(get.headers.get('allow')).to.equal('POST');
  });

  it('serves the boot scripts too: the same answer as through Koa, errors as iPXE scripts', async () => {
    // '/boot.ipxe/' is not in the direct table: Koa serves it through the same handler.
    const [direct, koa] = await Promise.all(['/boot.ipxe', '/boot.ipxe/'].map((url) => fetch(hp.baseUrl + url)));
    for (const header of ['content-type', 'x-homeport-boot', 'cache-control'])
      expect(direct!.headers.get(header), header).to.equal(koa!.headers.get(header));
    expect(await direct!.text()).to.equal(await koa!.text());
    const bad = await fetch(`${hp.baseUrl}/boot/${MAC.replace(/:/g, '-')}.ipxe?arch=x86_64&arch=arm64`);
    expect(bad.status, 'iPXE runs only a 200 body').to.equal(200);
    expect(bad.headers.get('x-homeport-boot')).to.equal('error');
    expect(await bad.text()).to.match(/^#!ipxe\n[\s\S]*arch: must be given once/);
    const notMac = await fetch(`${hp.baseUrl}/boot/not-a-mac.ipxe`);
    expect([notMac.status, notMac.headers.get('x-homeport-boot')]).to.deep.equal([200, 'error']);
  });

  it('takes only non-admin routes without middleware whose path is static or matched by a pattern', () => {
    const api = new ApiRouter({ adminToken: 't' });
    const spec = { method: 'post' as const, tag: 't', summary: 's', responses: { 200: 'ok' } };
    const refused = [
      { ...spec, path: '/api/x', auth: 'admin' as const },
      { ...spec, path: '/api/x/:id', auth: 'node' as const }, // a parameter needs a match
      { ...spec, path: '/api/x', auth: 'public' as const, use: [async () => undefined] },
    ];
    for (const route of refused)
      expect(() => api.directEndpoint(route, () => undefined), route.path).to.throw(
        /a direct endpoint has a static path/,
      );
    api.directEndpoint({ ...spec, path: '/api/x', auth: 'node' }, () => undefined);
    api.directEndpoint({ ...spec, path: '/api/y/:id', match: /^\/api\/y\/[^/]+$/, auth: 'public' }, () => undefined);
    expect(api.directRoutes.map((r) => `${r.method} ${r.path}`)).to.deep.equal(['POST /api/x', 'POST /api/y/:id']);
    expect(api.endpoints.map((e) => e.path)).to.deep.equal(['/api/x', '/api/y/:id']);
  });
});
