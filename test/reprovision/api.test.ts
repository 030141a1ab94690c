import { expect } from 'chai';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { sshEnv, useStubbedNodes } from '../helpers/ssh-fixture.js';

const PVE1 = { mac: '52:54:00:ab:00:01', hostname: 'pve1', ip: '127.0.0.2', cluster: 'lab' };
const PVE2 = { mac: '52:54:00:ab:00:02', hostname: 'pve2', ip: '127.0.0.3', cluster: 'lab' };

describe('reprovision API', function () {
  this.timeout(90_000);
  const lab = useStubbedNodes();
  let hp: TestHomeport;
  afterEach(async () => hp?.stop());

  const start = async (env: Record<string, string> = {}) =>
    (hp = await startTestHomeport({ env: { ...sshEnv(lab.sshd), HOMEPORT_WATCHER__ENABLED: 'false', ...env } }));
  const addNode = async (node: Record<string, unknown>) =>
    (await hp.request('POST', '/api/nodes', { admin: true, body: node })).body as { id: number };
  const reprovision = (body: unknown, admin = true) => hp.request('POST', '/api/reprovision', { admin, body });

  it('marks nodes in_progress with netboot on and phases reset, then really runs reboot over SSH', async () => {
    await start();
    const one = await addNode({ ...PVE1, netboot_enabled: false });
    await addNode(PVE2);
    const third = await addNode({ mac: '52:54:00:ab:00:03', hostname: 'pve3', ip: '127.0.0.4' });
    await hp.request('POST', '/api/status/phase', {
      body: { mac: PVE1.mac, phase: 'deployed', status: 'completed', token: await hp.tokenFor(PVE1.mac) },
    });

    const response = await reprovision({ nodes: ['pve1', PVE2.mac.toUpperCase().replace(/:/g, '-')], timeout_min: 30 });
    expect(response.status, response.text).to.equal(202);
    expect(response.body).to.include({ method: 'ssh', timeout_min: 30 });
    expect(
      response.body.nodes.map((n: { hostname: string; restart: unknown }) => [n.hostname, n.restart]),
    ).to.deep.equal([
      ['pve1', { ok: true, detail: 'reboot over ssh' }],
      ['pve2', { ok: true, detail: 'reboot over ssh' }],
    ]);
    expect(lab.stubs.calls().sort()).to.deep.equal(['127.0.0.2 reboot', '127.0.0.3 reboot']);

    const node = (await hp.request('GET', `/api/nodes/${one.id}`, { admin: true })).body;
    expect(node).to.include({
      reprovision_status: 'in_progress',
      netboot_enabled: true,
      deployment_status: 'pending',
      phase_status: null,
      reprovision_started: response.body.round,
    });
    const history = (await hp.request('GET', `/api/status/history/${one.id}`)).body.entries.map(
      (e: { source: string; phase: string; status: string; message: string }) =>
        `${e.source} ${e.phase} ${e.status}: ${e.message}`,
    );
    expect(history.slice(-2)).to.deep.equal([
      'admin pending in_progress: reprovision requested (restart: ssh, timeout 30 min)',
      'admin reprovision in_progress: restart: reboot over ssh',
    ]);
    expect(
      (await hp.request('GET', `/api/nodes/${third.id}`, { admin: true })).body.reprovision_status,
      'not named, not touched',
    ).to.equal(null);
    const row = await hp.homeport.db.knex('nodes').where({ id: one.id }).first();
    expect(Number(row.reprovision_timeout_min)).to.equal(30);
  });

  it('rejects bad requests with the field named, unknown nodes with 404 and no change, and callers without the admin token', async () => {
    await start();
    const one = await addNode(PVE1);
    const cases: [unknown, string][] = [
      [{ all: true, nodes: ['pve1'] }, 'all: give one of all: true, nodes: [...] or cluster: NAME'],
      [{}, 'all: give one of all: true, nodes: [...] or cluster: NAME'],
      [{ cluster: 'lab', max_unavailable: 2 }, 'max_unavailable: only with rolling: true'],
      [{ all: true, at: 'tomorrow' }, 'at: must be an ISO 8601 time such as 2026-12-01T02:00:00Z'],
      [{ nodes: [] }, 'nodes: must name at least one node'],
      [{ all: true, timeout_min: 0 }, 'timeout_min: must be from 1 to 1440 minutes'],
      [{ all: true, force: true }, 'force: unknown field'],
    ];
    for (const [body, detail] of cases) {
      const response = await reprovision(body);
      expect(response.status, JSON.stringify(body)).to.equal(400);
      expect(response.body.detail, JSON.stringify(body)).to.equal(detail);
    }
    const unknown = await reprovision({ nodes: ['pve1', 'ghost', '99'] });
    expect(unknown.status).to.equal(404);
    expect(unknown.body.detail).to.equal('no node ghost, 99; nothing was changed');
    expect((await hp.request('GET', `/api/nodes/${one.id}`, { admin: true })).body.reprovision_status).to.equal(null);
    expect((await reprovision({ cluster: 'nowhere' })).status).to.equal(409);
    expect((await reprovision({ all: true }, false)).status).to.equal(401);
    expect(lab.stubs.calls()).to.deep.equal([]);
    expect(
      (await hp.request('GET', '/api/jobs', { admin: true })).body.total,
      'a rejected request creates no job',
    ).to.equal(0);
  });

  it('marks a node error with the reason when its reboot fails, and the others go on', async () => {
    await start();
    await addNode(PVE1);
    const unreachable = await addNode({ mac: '52:54:00:ab:00:09', hostname: 'gone', ip: '127.0.0.9' }); // nothing listens there
    const response = await reprovision({ all: true });
    expect(response.status).to.equal(202);
    const gone = response.body.nodes.find((n: { hostname: string }) => n.hostname === 'gone');
    expect(gone.restart.ok).to.equal(false);
    expect(gone.restart.detail).to.match(/^ssh root@127\.0\.0\.9:\d+: cannot connect \(ECONNREFUSED\)$/);
    expect(gone.reprovision_status).to.equal('error');
    const history = (await hp.request('GET', `/api/status/history/${unreachable.id}`)).body.entries;
    expect(history.at(-1)).to.include({ source: 'admin', phase: 'reprovision', status: 'failed' });
    expect(lab.stubs.calls()).to.deep.equal(['127.0.0.2 reboot']);
  });

  it('with method none only marks the nodes', async () => {
    await start({ HOMEPORT_REPROVISION__METHOD: 'none' });
    await addNode(PVE1);
    const response = await reprovision({ all: true });
    expect(response.body.nodes[0].restart).to.deep.equal({
      ok: true,
      detail: 'left to you (reprovision.method none): power-cycle the machine',
    });
    const history = (await hp.request('GET', `/api/status/history/${PVE1.mac}?order=desc&limit=1`)).body.entries;
    expect(history[0].message).to.equal('restart: left to you (reprovision.method none): power-cycle the machine');
    expect(response.body.nodes[0].reprovision_status).to.equal('in_progress');
    expect(lab.stubs.calls()).to.deep.equal([]);
  });

  describe('Redfish', () => {
    // A stand-in for a BMC (none can run here): a real HTTP server with the two
    // Redfish calls homeport makes, recording them.
    let bmc: http.Server;
    let calls: { method: string; url: string; auth: string; body: unknown }[];
    let answer: { status: number; body: unknown } | null;
    let dir: string;
    before(async () => {
      bmc = http.createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => (text += c.toString()));
        req.on('end', () => {
          calls.push({
            method: req.method!,
            url: req.url!,
            auth: req.headers.authorization ?? '',
            body: text ? JSON.parse(text) : null,
          });
          const known =
            (req.method === 'PATCH' && req.url === '/redfish/v1/Systems/System.Embedded.1') ||
            (req.method === 'POST' && req.url === '/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset');
          const reply =
            answer ??
            (known ? { status: 204, body: null } : { status: 404, body: { error: { message: 'no such resource' } } });
          res
            .writeHead(reply.status, { 'content-type': 'application/json' })
            .end(reply.body ? JSON.stringify(reply.body) : undefined);
        });
      });
      await new Promise<void>((resolve) => bmc.listen(0, '127.0.0.1', resolve));
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-redfish-'));
      fs.writeFileSync(path.join(dir, 'password'), 'bmc-Secret-pw\n', { mode: 0o600 });
    });
    after(async () => {
      await new Promise((resolve) => bmc.close(resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    });
    beforeEach(() => {
      calls = [];
      answer = null;
    });
    const redfishEnv = () => ({
      HOMEPORT_REPROVISION__METHOD: 'redfish',
      HOMEPORT_REPROVISION__REDFISH__SCHEME: 'http',
      HOMEPORT_REPROVISION__REDFISH__SYSTEMPATH: '/redfish/v1/Systems/System.Embedded.1',
      HOMEPORT_REPROVISION__REDFISH__USERNAME: 'admin',
      HOMEPORT_REPROVISION__REDFISH__PASSWORDFILE: path.join(dir, 'password'),
    });
    const bmcAddress = () => `127.0.0.1:${(bmc.address() as AddressInfo).port}`;

    it('sets a one-time PXE boot override, then resets the system, with basic auth', async () => {
      await start(redfishEnv());
      await addNode({ ...PVE1, labels: { bmc: bmcAddress() } });
      const response = await reprovision({ nodes: ['pve1'] });
      expect(response.body.nodes[0].restart).to.deep.equal({
        ok: true,
        detail: 'redfish ForceRestart with boot override Pxe once via its BMC (label bmc)',
      });
      const auth = `Basic ${Buffer.from('admin:bmc-Secret-pw').toString('base64')}`;
      expect(calls).to.deep.equal([
        {
          method: 'PATCH',
          url: '/redfish/v1/Systems/System.Embedded.1',
          auth,
          body: { Boot: { BootSourceOverrideEnabled: 'Once', BootSourceOverrideTarget: 'Pxe' } },
        },
        {
          method: 'POST',
          url: '/redfish/v1/Systems/System.Embedded.1/Actions/ComputerSystem.Reset',
          auth,
          body: { ResetType: 'ForceRestart' },
        },
      ]);
      expect(lab.stubs.calls(), 'no SSH reboot').to.deep.equal([]);
    });

    it("marks the node error with the BMC's message, never the password; a node without a BMC label too", async () => {
      await start(redfishEnv());
      await addNode({ ...PVE1, labels: { bmc: bmcAddress() } });
      await addNode(PVE2);
      answer = {
        status: 401,
        body: { error: { '@Message.ExtendedInfo': [{ Message: 'bad password bmc-Secret-pw for admin' }] } },
      };
      const response = await reprovision({ all: true });
      const [one, two] = response.body.nodes as {
        reprovision_status: string;
        restart: { ok: boolean; detail: string };
      }[];
      expect(one!.reprovision_status).to.equal('error');
      expect(one!.restart.detail, 'the BMC address is named by its label').to.equal(
        'redfish PATCH http://<bmc>/redfish/v1/Systems/System.Embedded.1: HTTP 401: bad password **** for admin',
      );
      expect(two!.restart).to.deep.equal({ ok: false, detail: "no BMC address: set the node's label bmc" });
      expect(calls).to.have.length(1);
    });

    it('power jobs: on, off and reset through the BMC, PXE once like a reprovision; a node without a BMC fails the preflight', async () => {
      await start(redfishEnv());
      await addNode({ ...PVE1, labels: { bmc: bmcAddress() } });
      await addNode(PVE2);
      const power = async (nodes: string[], action: string) => {
        const created = await hp.request('POST', '/api/jobs', {
          admin: true,
          body: { type: 'power', params: { nodes, action } },
        });
        expect(created.status, created.text).to.equal(202);
        for (let i = 0; i < 100; i++) {
          const job = (await hp.request('GET', `/api/jobs/${created.body.job.id}`, { admin: true })).body;
          if (!['pending', 'running'].includes(job.status)) return job;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        throw new Error('power job did not end');
      };
      for (const action of ['on', 'off', 'reset'])
        expect((await power(['pve1'], action)).status, action).to.equal('completed');
      const pxe = await power(['pve1'], 'pxe');
      expect(pxe.result.outcomes).to.deep.equal([
        { node: 'pve1', ok: true, detail: 'redfish ForceRestart with boot override Pxe once via its BMC (label bmc)' },
      ]);
      expect(calls.map((c) => `${c.method} ${JSON.stringify(c.body)}`)).to.deep.equal([
        'POST {"ResetType":"On"}',
        'POST {"ResetType":"ForceOff"}',
        'POST {"ResetType":"ForceRestart"}',
        'PATCH {"Boot":{"BootSourceOverrideEnabled":"Once","BootSourceOverrideTarget":"Pxe"}}',
        'POST {"ResetType":"ForceRestart"}',
      ]);
      const missing = await power(['pve1', 'pve2'], 'off');
      expect(missing).to.include({
        status: 'failed',
        error: "cannot off through redfish: pve2: no BMC address: set the node's label bmc",
      });
      expect(calls, 'nothing was sent when the preflight failed').to.have.length(5);
      const unknown = await hp.request('POST', '/api/jobs', {
        admin: true,
        body: { type: 'power', params: { nodes: ['ghost'], action: 'on' } },
      });
      expect(unknown.status).to.equal(404);
      expect(unknown.body.detail).to.equal('no node ghost; nothing was changed');
    });
  });
});
