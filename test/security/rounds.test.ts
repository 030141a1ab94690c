/**
 * The trust model's install rounds, attacked from the boot network (DESIGN.md):
 * each scenario is what a stranger on the provisioning VLAN would try, over
 * real HTTP on loopback. Other machines are other loopback source addresses
 * (127.0.0.x; Linux routes all of 127/8 to lo), so "another address" is a
 * real second client, not a header. Every scenario asserts the attack fails
 * and that no row changed.
 */
import { expect } from 'chai';
import http from 'node:http';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';

const NODE = '52:54:00:5e:00:01';
const OTHER = '52:54:00:5e:00:02';
const MACHINE = '127.0.0.1';
const STRANGER = '127.0.0.66';

interface Answer {
  status: number;
  text: string;
  headers: http.IncomingHttpHeaders;
}

/** An HTTP request from a chosen loopback source address (a machine on the boot network). */
function from(
  source: string,
  baseUrl: string,
  method: string,
  urlPath: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const url = new URL(urlPath, baseUrl);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        method,
        localAddress: source,
        headers: { ...(payload ? { 'content-type': 'application/json' } : {}), ...headers },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${urlPath}: no answer in 10 s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

describe('install rounds: attacks from the boot network', function () {
  this.timeout(60_000);
  let hp: TestHomeport;

  /** Everything an attack could change: the node rows and their histories. */
  async function state(): Promise<string> {
    const nodes = (await hp.request('GET', '/api/nodes', { admin: true })).body.nodes as { mac: string }[];
    const histories = await Promise.all(
      nodes.map(async (n) => (await hp.request('GET', `/api/status/history/${n.mac}?limit=500`)).body),
    );
    return JSON.stringify({ nodes, histories });
  }
  const phase = (source: string, token: string, body: Record<string, unknown>) =>
    from(source, hp.baseUrl, 'POST', '/api/status/phase', { mac: NODE, ...body }, { 'x-homeport-token': token });
  const config = (source: string, mac: string, name: string) =>
    from(source, hp.baseUrl, 'GET', `/config/${mac}/${name}`);
  const script = (source: string, mac: string) =>
    from(source, hp.baseUrl, 'GET', `/boot/${mac.replace(/:/g, '-')}.ipxe?arch=x86_64&platform=pcbios`);

  afterEach(async () => hp?.stop());

  describe('with the default grace', () => {
    beforeEach(async () => {
      hp = await startTestHomeport();
      for (const mac of [NODE, OTHER])
        expect(
          (await hp.request('POST', '/api/nodes', { admin: true, body: { mac, profile: 'linux-initramfs' } })).status,
        ).to.equal(201);
    });

    it('the round is bound to the machine that fetched its script first: a stranger gets neither script nor config, and no token', async () => {
      const token = await hp.tokenFor(NODE);
      const own = await script(MACHINE, NODE);
      expect(own.headers['x-homeport-boot']).to.equal('install');
      expect(own.text).to.contain(`homeport.token=${token}`);
      const before = await state();
      const stolenScript = await script(STRANGER, NODE);
      expect(stolenScript.headers['x-homeport-boot']).to.equal('refused');
      expect(stolenScript.text).to.contain(`bound to ${MACHINE}`).and.contain(STRANGER).and.not.contain(token);
      const stolenConfig = await config(STRANGER, NODE, 'install');
      expect(stolenConfig.status).to.equal(404);
      expect(stolenConfig.text).to.not.contain(token);
      expect(await state(), 'nothing changed').to.equal(before);
      expect((await config(MACHINE, NODE, 'install')).text, 'the machine itself still gets it').to.contain(token);
    });

    it("a stranger cannot phone home with a stolen token, nor with another node's, nor bind a round first", async () => {
      const token = await hp.tokenFor(NODE);
      expect((await phase(MACHINE, token, { phase: 'installation' })).status).to.equal(200);
      const before = await state();
      expect(
        (await phase(STRANGER, token, { phase: 'deployed', status: 'completed' })).status,
        'stolen token, other address',
      ).to.equal(401);
      expect(
        (
          await from(
            STRANGER,
            hp.baseUrl,
            'POST',
            '/api/nodes/register',
            { mac: NODE, hostname: 'evil' },
            { 'x-homeport-token': token },
          )
        ).status,
      ).to.equal(401);
      const otherToken = await hp.tokenFor(OTHER);
      expect(
        (await phase(MACHINE, otherToken, { phase: 'failed', status: 'failed' })).status,
        "another node's token",
      ).to.equal(401);
      expect(await state(), 'nothing changed').to.equal(before);
    });

    it('an installer may report its own ip; homeport stores it, shows the mismatch and keeps connecting where it saw the machine', async () => {
      const token = await hp.tokenFor(NODE);
      const registered = await from(
        MACHINE,
        hp.baseUrl,
        'POST',
        '/api/nodes/register',
        { mac: NODE, ip: '10.66.0.1', cluster: 'victim' },
        { 'x-homeport-token': token },
      );
      expect(registered.status).to.equal(200);
      const node = JSON.parse(registered.text).node;
      expect(node).to.include({ ip: null, reported_ip: '10.66.0.1', address: MACHINE, cluster: 'victim' });
      expect(node.address_warning).to.equal(`the installer reported 10.66.0.1; homeport uses ${MACHINE}`);
      // Once an admin set the cluster, phone-home cannot move it.
      await hp.request('PATCH', `/api/nodes/${NODE}`, { admin: true, body: { cluster: 'lab', ip: '10.0.0.5' } });
      const again = JSON.parse(
        (
          await from(
            MACHINE,
            hp.baseUrl,
            'POST',
            '/api/nodes/register',
            { mac: NODE, ip: '10.66.0.2', cluster: 'attacker' },
            { 'x-homeport-token': token },
          )
        ).text,
      ).node;
      expect(again).to.include({ cluster: 'lab', ip: '10.0.0.5', address: '10.0.0.5', reported_ip: '10.66.0.2' });
    });

    it('a new reprovision opens a new round: the old token dies, the new one works', async () => {
      const old = await hp.tokenFor(NODE);
      expect((await phase(MACHINE, old, { phase: 'installation' })).status).to.equal(200);
      expect((await hp.request('POST', '/api/reprovision', { admin: true, body: { nodes: [NODE] } })).status).to.equal(
        202,
      );
      const before = await state();
      expect(
        (await phase(MACHINE, old, { phase: 'deployed', status: 'completed' })).status,
        'the old round token',
      ).to.equal(401);
      expect(await state(), 'nothing changed').to.equal(before);
      const fresh = await hp.tokenFor(NODE);
      expect(fresh).to.not.equal(old);
      expect((await phase(MACHINE, fresh, { phase: 'installation' })).status).to.equal(200);
    });

    it("a deployed node's config is not served, even to its own address within the grace", async () => {
      const token = await hp.tokenFor(NODE);
      expect((await config(MACHINE, NODE, 'install')).status).to.equal(200);
      expect((await phase(MACHINE, token, { phase: 'deployed', status: 'completed' })).status).to.equal(200);
      const before = await state();
      const cfg = await config(MACHINE, NODE, 'install');
      expect(cfg.status).to.equal(404);
      expect(cfg.text).to.contain(`${NODE} is deployed`).and.not.contain(token);
      expect(await state(), 'nothing changed').to.equal(before);
      expect(
        (await phase(MACHINE, token, { phase: 'deployed', status: 'completed', message: 'late report' })).status,
        'late reports still land within the grace',
      ).to.equal(200);
    });

    it("a stranger's GET of a Proxmox answer during the round renders nothing and leaves netboot on", async () => {
      await hp.request('PATCH', `/api/nodes/${NODE}`, { admin: true, body: { profile: 'proxmox' } });
      await script(MACHINE, NODE); // the machine binds its round
      const before = await state();
      const answer = await config(STRANGER, NODE, 'answer');
      expect(answer.status).to.equal(404);
      expect(answer.text).to.not.contain('root_password');
      expect(await state(), 'netboot still on, no history row').to.equal(before);
      expect((await hp.request('GET', `/api/nodes/${NODE}`, { admin: true })).body.netboot_enabled).to.equal(true);
      const own = await config(MACHINE, NODE, 'answer');
      expect(own.status).to.equal(200);
      expect(
        (await hp.request('GET', `/api/nodes/${NODE}`, { admin: true })).body.netboot_enabled,
        "the bound machine's fetch turns it off",
      ).to.equal(false);
    });
  });

  describe('after the round closed (grace 0)', () => {
    beforeEach(async () => {
      hp = await startTestHomeport({ env: { HOMEPORT_AUTH__ROUNDGRACEMINUTES: '0' } });
      expect(
        (await hp.request('POST', '/api/nodes', { admin: true, body: { mac: NODE, profile: 'linux-initramfs' } }))
          .status,
      ).to.equal(201);
    });

    it("a deployed node's token, config and script are dead, also from its own address", async () => {
      const token = await hp.tokenFor(NODE);
      expect((await phase(MACHINE, token, { phase: 'deployed', status: 'completed' })).status).to.equal(200);
      const node = (await hp.request('GET', `/api/nodes/${NODE}`, { admin: true })).body;
      expect(node.install_round.open).to.equal(false);
      const before = await state();
      expect(
        (await phase(MACHINE, token, { phase: 'failed', status: 'failed' })).status,
        'token after deployed',
      ).to.equal(401);
      const cfg = await config(MACHINE, NODE, 'install');
      expect(cfg.status).to.equal(404);
      expect(cfg.text).to.contain(`${NODE} is deployed`).and.not.contain(token);
      expect((await script(MACHINE, NODE)).headers['x-homeport-boot'], 'netboot off: local disk').to.equal('local');
      expect(
        (await hp.request('GET', `/api/nodes/${NODE}/token`, { admin: true })).status,
        'no open round: no token',
      ).to.equal(409);
      // Even with netboot turned back on by hand, without a new round nothing is rendered.
      await hp.request('PATCH', `/api/nodes/${NODE}`, { admin: true, body: { netboot_enabled: true } });
      const refused = await script(MACHINE, NODE);
      expect(refused.headers['x-homeport-boot']).to.equal('refused');
      expect(refused.text).to.not.contain(token);
      const after = JSON.parse(await state());
      const wanted = JSON.parse(before);
      wanted.nodes[0].netboot_enabled = true;
      expect(after.histories, 'no history row').to.deep.equal(wanted.histories);
    });
  });

  describe('auth.bindSource: lease', () => {
    it('without a DHCP lease for the MAC, nothing is rendered and no call is taken', async () => {
      hp = await startTestHomeport({ env: { HOMEPORT_AUTH__BINDSOURCE: 'lease' } });
      await hp.request('POST', '/api/nodes', { admin: true, body: { mac: NODE, profile: 'linux-initramfs' } });
      const token = await hp.tokenFor(NODE);
      const before = await state();
      const refused = await script(MACHINE, NODE);
      expect(refused.headers['x-homeport-boot']).to.equal('refused');
      expect(refused.text).to.contain(`no DHCP lease for ${NODE}`);
      expect((await phase(MACHINE, token, { phase: 'installation' })).status).to.equal(401);
      expect(await state()).to.equal(before);
    });

    it("with the MAC's lease, only the lease holder's address gets the round (a MAC spoofer elsewhere does not)", async () => {
      hp = await startTestHomeport({ env: { HOMEPORT_AUTH__BINDSOURCE: 'lease' } });
      await hp.request('POST', '/api/nodes', { admin: true, body: { mac: NODE, profile: 'linux-initramfs' } });
      // The lease row as homeport's full-mode DHCP writes it (the DHCP suites exercise that path with real clients).
      await hp.homeport.db
        .knex('leases')
        .insert({ mac: NODE, ip: MACHINE, state: 'bound', expires_at: Date.now() + 3_600_000, updated_at: Date.now() });
      const token = await hp.tokenFor(NODE);
      expect((await script(STRANGER, NODE)).headers['x-homeport-boot'], 'the spoofer asks first').to.equal('refused');
      expect((await phase(STRANGER, token, { phase: 'installation' })).status).to.equal(401);
      expect((await script(MACHINE, NODE)).headers['x-homeport-boot']).to.equal('install');
      expect((await phase(MACHINE, token, { phase: 'installation' })).status).to.equal(200);
      expect((await hp.request('GET', `/api/nodes/${NODE}`, { admin: true })).body.install_round.bound_ip).to.equal(
        MACHINE,
      );
    });
  });
});
