import { expect } from 'chai';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';

const MAC = '52:54:00:aa:00:01';

for (const kind of DATABASE_KINDS) {
  describe(`phone-home API on ${kind}`, function () {
    this.timeout(30_000);
    let hp: TestHomeport;
    beforeEach(async () => (hp = await startTestHomeport({ kind })));
    afterEach(async () => hp.stop());

    const register = async (body: Record<string, unknown>, token?: string) =>
      hp.request('POST', '/api/nodes/register', {
        body,
        headers: { 'x-homeport-token': token ?? (await hp.tokenFor(String(body.mac).toLowerCase())) },
      });
    const phase = async (body: Record<string, unknown>, mac = MAC) =>
      hp.request('POST', '/api/status/phase', { body: { ...body, token: await hp.tokenFor(mac) } });

    it('registers a node idempotently: the same call twice is one node; its reported ip is stored, not used', async () => {
      const first = await register({ mac: MAC, hostname: 'pve1', ip: '10.0.0.11', type: 'proxmox', cluster: 'lab' });
      expect(first.status, 'an admin added the node (tokenFor): register updates it').to.equal(200);
      expect(first.body.node).to.include({
        mac: MAC,
        hostname: 'pve1',
        ip: null,
        reported_ip: '10.0.0.11',
        address: '127.0.0.1',
        type: 'proxmox',
        cluster: 'lab',
        status: 'registered',
        netboot_enabled: true,
      });
      expect(first.body.node.address_warning).to.equal('the installer reported 10.0.0.11; homeport uses 127.0.0.1');
      expect(first.body.node.install_round).to.include({ open: true, bound_ip: '127.0.0.1', closes_at: null });
      const second = await register(
        { mac: MAC.toUpperCase().replace(/:/g, '-'), hostname: 'pve1', ip: '10.0.0.11' },
        await hp.tokenFor(MAC),
      );
      expect(second.status).to.equal(200);
      expect(second.body.node.id).to.equal(first.body.node.id);
      const list = await hp.request('GET', '/api/nodes', { admin: true });
      expect(list.body.nodes).to.have.length(1);
    });

    it('records a phase and its history row together, and serves status by id, MAC and IP', async () => {
      const { body } = await register({ mac: MAC, hostname: 'pve1', ip: '10.0.0.11' });
      const id = body.node.id as number;
      const reported = await phase({
        mac: MAC,
        phase: 'installation',
        status: 'in_progress',
        message: 'unpacking',
        progress: 40,
      });
      expect(reported.status).to.equal(200);
      expect(reported.body).to.deep.include({ applied: true, reason: 'advance' });
      for (const ref of [
        String(id),
        MAC,
        'aabb.cc00.0000'.replace('aabb.cc00.0000', '5254.00aa.0001'),
        '525400AA0001',
      ]) {
        const status = await hp.request('GET', `/api/status/nodes/${ref}`);
        expect(status.status, ref).to.equal(200);
        expect(status.body).to.include({
          id,
          deployment_status: 'installation',
          phase_status: 'in_progress',
          phase_progress: 40,
        });
      }
      const byIp = await hp.request('GET', '/api/status/deployment/127.0.0.1');
      expect(byIp.body).to.include({ id, deployment_status: 'installation' });
      expect(byIp.body.last_event).to.include({ phase: 'installation', message: 'unpacking' });
      const history = await hp.request('GET', `/api/status/history/${id}`);
      expect(history.body.entries.map((e: { phase: string }) => e.phase)).to.deep.equal(['registered', 'installation']);
      expect(history.body.entries[1]).to.include({
        status: 'in_progress',
        source: 'installer',
        source_ip: '127.0.0.1',
        applied: true,
      });
    });

    it('accepts node_id or ip instead of mac, and form bodies from shell clients', async () => {
      const { body } = await register({ mac: MAC, ip: '10.0.0.12' });
      expect((await phase({ node_id: body.node.id, phase: 'foundation_start' })).body.applied).to.equal(true);
      expect(
        (await phase({ ip: '127.0.0.1', phase: 'network_config', status: 'completed' })).body.applied,
        'by the address homeport saw',
      ).to.equal(true);
      const form = await hp.request('POST', '/api/status/phase', {
        body: `mac=${MAC}&phase=storage_discovery&status=completed&progress=100&token=${await hp.tokenFor(MAC)}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(form.status).to.equal(200);
      expect(form.body.node).to.include({ deployment_status: 'storage_discovery', phase_progress: 100 });
    });

    it('records late and duplicate reports without moving the node backwards', async () => {
      await register({ mac: MAC });
      await phase({ mac: MAC, phase: 'post_install', status: 'in_progress' });
      const late = await phase({ mac: MAC, phase: 'image_download', status: 'completed' });
      expect(late.body).to.deep.include({ applied: false, reason: 'late' });
      expect(late.body.node.deployment_status).to.equal('post_install');
      const dup = await phase({ mac: MAC, phase: 'post_install', status: 'in_progress' });
      expect(dup.body).to.deep.include({ applied: false, reason: 'duplicate' });
      const history = await hp.request('GET', `/api/status/history/${MAC}?order=desc&limit=2`);
      expect(history.body.total).to.equal(4);
      expect(history.body.entries.map((e: { applied: boolean }) => e.applied)).to.deep.equal([false, false]);
    });

    it('applies progress and messages within the current phase and keeps every report in history', async () => {
      await register({ mac: MAC });
      await phase({ mac: MAC, phase: 'installation', status: 'in_progress', progress: 42, message: 'unpacking' });
      const overall: number[] = [];
      for (const [progress, message] of [
        [60, 'copying /usr'],
        [75, 'copying /var'],
      ] as const) {
        const update = await phase({ mac: MAC, phase: 'installation', status: 'in_progress', progress, message });
        expect(update.body).to.deep.include({ applied: true, reason: 'progress' });
        expect(update.body.node).to.include({ deployment_status: 'installation', phase_progress: progress });
        overall.push(update.body.node.overall_progress as number);
      }
      expect(overall[1], 'the overall bar moves too').to.be.greaterThan(overall[0]!);
      const messageOnly = await phase({
        mac: MAC,
        phase: 'installation',
        status: 'in_progress',
        message: 'writing the bootloader',
      });
      expect(messageOnly.body).to.deep.include({ applied: true, reason: 'progress' });
      const status = await hp.request('GET', `/api/status/nodes/${MAC}`);
      expect(status.body).to.include({ phase_progress: 75 });
      const byIp = await hp.request('GET', `/api/status/history/${MAC}?order=asc`);
      expect(byIp.body.entries.map((e: { message: string | null }) => e.message)).to.deep.equal([
        null,
        'unpacking',
        'copying /usr',
        'copying /var',
        'writing the bootloader',
      ]);
    });

    it('marks the node failed on a failed phase, and lists it in the summary', async () => {
      await register({ mac: MAC, hostname: 'pve1' });
      await phase({ mac: MAC, phase: 'installation', status: 'failed', message: 'disk /dev/sda not found' });
      const status = await hp.request('GET', `/api/status/nodes/${MAC}`);
      expect(status.body).to.include({ deployment_status: 'installation', phase_status: 'failed' });
      const summary = await hp.request('GET', '/api/status/summary');
      expect(summary.body.failures).to.have.length(1);
      expect(summary.body.failures[0]).to.include({
        mac: MAC,
        phase: 'installation',
        message: 'disk /dev/sda not found',
      });
      expect(summary.body.by_phase).to.deep.equal({ installation: 1 });
    });

    it('post-install-complete marks the install deployed and turns netboot off (boot-once)', async () => {
      await register({ mac: MAC, hostname: 'pve1' });
      const done = await register({ mac: MAC, hostname: 'pve1', status: 'post-install-complete' });
      expect(done.body.node).to.include({
        status: 'post-install-complete',
        deployment_status: 'deployed',
        phase_status: 'completed',
        netboot_enabled: false,
        overall_progress: 100,
      });
      const summary = await hp.request('GET', '/api/status/summary');
      expect(summary.body.durations.deployed_nodes).to.equal(1);
      expect(summary.body.by_phase).to.deep.equal({ deployed: 1 });
    });

    it('pages history oldest or newest first', async () => {
      await register({ mac: MAC });
      for (const p of ['foundation_start', 'network_config', 'storage_discovery'])
        await phase({ mac: MAC, phase: p, status: 'completed' });
      const oldest = await hp.request('GET', `/api/status/history/${MAC}?order=asc&limit=2&offset=1`);
      expect(oldest.body.entries.map((e: { phase: string }) => e.phase)).to.deep.equal([
        'foundation_start',
        'network_config',
      ]);
      const newest = await hp.request('GET', `/api/status/history/${MAC}?order=desc&limit=1`);
      expect(newest.body.entries.map((e: { phase: string }) => e.phase)).to.deep.equal(['storage_discovery']);
      expect(newest.body.total).to.equal(4);
    });

    it('names a node by hostname wherever it takes an id or MAC, and answers 409 listing the nodes that share one', async () => {
      const first = (await register({ mac: MAC, hostname: 'pve1', ip: '10.0.0.11' })).body.node as { id: number };
      await phase({ mac: MAC, phase: 'installation', status: 'in_progress' });
      const named: [string, string, boolean][] = [
        ['GET', '/api/status/nodes/pve1', false],
        ['GET', '/api/status/history/PVE1', false],
        ['GET', '/api/nodes/pve1', true],
        ['GET', '/api/nodes/pve1/token', true],
        ['PATCH', '/api/nodes/pve1', true],
        ['GET', '/api/jobs?node=pve1', true],
        ['GET', '/monitoring/nodes/pve1', false],
      ];
      for (const [method, path, admin] of named) {
        const response = await hp.request(method, path, {
          admin,
          ...(method === 'PATCH' ? { body: { cluster: 'lab' } } : {}),
        });
        expect(response.status, `${method} ${path}: ${response.text.slice(0, 200)}`).to.equal(200);
      }
      const second = (
        await hp.request('POST', '/api/nodes', { admin: true, body: { mac: '52:54:00:aa:00:02', hostname: 'pve1' } })
      ).body as { id: number };
      const listed = `pve1 names 2 nodes: ${first.id} (${MAC}), ${second.id} (52:54:00:aa:00:02); name one by its id or MAC`;
      for (const [method, path, admin] of named) {
        const response = await hp.request(method, path, {
          admin,
          ...(method === 'PATCH' ? { body: { cluster: 'lab' } } : {}),
        });
        expect(response.status, `${method} ${path}`).to.equal(409);
        if (path.startsWith('/api/'))
          expect(response.body.detail, path).to.equal(listed.replace(/^pve1/, path.includes('PVE1') ? 'PVE1' : 'pve1'));
        else expect(response.text).to.include(listed);
      }
      const reprovision = await hp.request('POST', '/api/reprovision', { admin: true, body: { nodes: ['pve1'] } });
      expect(reprovision.status).to.equal(409);
      expect(reprovision.body.detail).to.equal(listed);
      expect(
        (await hp.request('GET', `/api/status/nodes/${second.id}`)).body.reprovision_status,
        'nothing restarted',
      ).to.equal(null);
    });

    describe('authentication', () => {
      it('refuses a phone-home call without or with a wrong node token (401) and changes nothing', async () => {
        const unknown = await hp.request('POST', '/api/nodes/register', { body: { mac: MAC } });
        expect(unknown.status, 'a MAC homeport does not know cannot register itself').to.equal(404);
        await hp.tokenFor(MAC);
        const missing = await hp.request('POST', '/api/nodes/register', { body: { mac: MAC, hostname: 'evil' } });
        expect(missing.status).to.equal(401);
        expect(missing.body.error).to.equal('unauthorized');
        const otherNodes = await register({ mac: MAC, hostname: 'evil' }, await hp.tokenFor('52:54:00:aa:00:99'));
        expect(otherNodes.status).to.equal(401);
        expect((await hp.request('GET', `/api/nodes/${MAC}`, { admin: true })).body).to.include({
          hostname: null,
          address: null,
        });
        expect((await hp.request('GET', `/api/status/history/${MAC}`)).body.total).to.equal(0);
        await register({ mac: MAC });
        const wrongPhase = await hp.request('POST', '/api/status/phase', {
          body: { mac: MAC, phase: 'installation', token: 'x'.repeat(32) },
        });
        expect(wrongPhase.status).to.equal(401);
        expect((await hp.request('GET', `/api/status/history/${MAC}`)).body.total).to.equal(1);
      });

      it('requires the admin bearer token on admin routes', async () => {
        for (const [method, path] of [
          ['GET', '/api/nodes'],
          ['POST', '/api/nodes'],
          ['GET', `/api/nodes/${MAC}`],
          ['PATCH', `/api/nodes/${MAC}`],
          ['DELETE', `/api/nodes/${MAC}`],
          ['GET', `/api/nodes/${MAC}/token`],
        ] as const) {
          const none = await hp.request(method, path, {
            body: method === 'GET' || method === 'DELETE' ? undefined : {},
          });
          expect(none.status, `${method} ${path}`).to.equal(401);
          const wrong = await hp.request(method, path, { headers: { authorization: 'Bearer nope' } });
          expect(wrong.status, `${method} ${path}`).to.equal(401);
        }
      });
    });

    describe('admin', () => {
      it('creates, filters, edits and deletes nodes', async () => {
        const created = await hp.request('POST', '/api/nodes', {
          admin: true,
          body: { mac: MAC, hostname: 'pve1', cluster: 'lab', profile: 'proxmox', labels: { rack: 'r1' } },
        });
        expect(created.status).to.equal(201);
        expect((await hp.request('POST', '/api/nodes', { admin: true, body: { mac: MAC } })).status).to.equal(409);
        await hp.request('POST', '/api/nodes', { admin: true, body: { mac: '52:54:00:aa:00:02', cluster: 'other' } });
        const lab = await hp.request('GET', '/api/nodes?cluster=lab', { admin: true });
        expect(lab.body.nodes.map((n: { mac: string }) => n.mac)).to.deep.equal([MAC]);
        const edited = await hp.request('PATCH', `/api/nodes/${MAC}`, {
          admin: true,
          body: { hostname: 'pve-one', netboot_enabled: false, cluster: null },
        });
        expect(edited.body).to.include({ hostname: 'pve-one', netboot_enabled: false, cluster: null });
        const token = await hp.request('GET', `/api/nodes/${MAC}/token`, { admin: true });
        expect(token.body.token).to.equal(await hp.tokenFor(MAC));
        expect((await hp.request('DELETE', `/api/nodes/${MAC}`, { admin: true })).status).to.equal(204);
        expect((await hp.request('GET', `/api/nodes/${MAC}`, { admin: true })).status).to.equal(404);
      });
    });

    describe('bad input gets a 4xx naming the field and changes nothing', () => {
      const badRegister: [string, unknown, number, RegExp][] = [
        ['a MAC with a bad spelling', { mac: 'aa:bb:cc' }, 400, /^mac: must be a MAC address/],
        ['a MAC that is a number', { mac: 42 }, 400, /^mac: must be a string/],
        ['a missing MAC', { hostname: 'x' }, 400, /^mac: is required/],
        [
          'a hostname with a newline',
          { mac: MAC, hostname: 'pve1\nchain http://evil' },
          400,
          /^hostname: must be an RFC 1123 hostname/,
        ],
        ['a hostname with ${...}', { mac: MAC, hostname: '${net0/mac}' }, 400, /^hostname: /],
        ['a hostname with a quote and ;', { mac: MAC, hostname: "a';reboot" }, 400, /^hostname: /],
        [
          'a hostname over 253 characters',
          { mac: MAC, hostname: `${'a'.repeat(60)}.`.repeat(5) + 'com' },
          400,
          /^hostname: /,
        ],
        ['an IP that is not one', { mac: MAC, ip: '10.0.0.300' }, 400, /^ip: must be an IPv4 or IPv6 address/],
        [
          'an unknown status',
          { mac: MAC, status: 'done' },
          400,
          /^status: must be one of registered, post-install-complete/,
        ],
        ['an unknown field', { mac: MAC, role: 'x' }, 400, /^role: unknown field/],
        ['a cluster with spaces', { mac: MAC, cluster: 'my cluster' }, 400, /^cluster: must be 1-63 letters/],
        ['a JSON array', [1, 2], 400, /^body: must be a JSON object/],
      ];
      for (const [name, body, status, detail] of badRegister) {
        it(`register: ${name}`, async () => {
          const response = await hp.request('POST', '/api/nodes/register', {
            body,
            headers: { 'x-homeport-token': await hp.tokenFor(MAC) },
          });
          expect(response.status).to.equal(status);
          expect(response.body.error).to.equal('invalid_request');
          expect(response.body.detail).to.match(detail);
          const nodes = (await hp.request('GET', '/api/nodes', { admin: true })).body.nodes;
          expect(nodes, 'only the node the admin added').to.have.length(1);
          expect(nodes[0]).to.include({ hostname: null, reported_ip: null, cluster: null });
        });
      }

      const badPhase: [string, Record<string, unknown>, number, RegExp][] = [
        ['an unknown phase', { mac: MAC, phase: 'teleporting' }, 400, /^phase: unknown phase; one of pending, /],
        [
          'an unknown status',
          { mac: MAC, phase: 'installation', status: 'almost' },
          400,
          /^status: must be one of in_progress, completed, failed/,
        ],
        ['no node reference', { phase: 'installation' }, 400, /^mac: one of mac, node_id or ip is required/],
        ['a progress over 100', { mac: MAC, phase: 'installation', progress: 101 }, 400, /^progress: /],
        [
          'a message over the limit',
          { mac: MAC, phase: 'installation', message: 'x'.repeat(2001) },
          400,
          /^message: must be at most 2000/,
        ],
        ['a phase that is not text', { mac: MAC, phase: 7 }, 400, /^phase: must be a string/],
        [
          'an unregistered node',
          { mac: '52:54:00:aa:00:77', phase: 'installation' },
          404,
          /no node with mac 52:54:00:aa:00:77/,
        ],
      ];
      for (const [name, body, status, detail] of badPhase) {
        it(`phase: ${name}`, async () => {
          await register({ mac: MAC });
          const response = await hp.request('POST', '/api/status/phase', {
            body: { ...body, token: await hp.tokenFor(MAC) },
          });
          expect(response.status).to.equal(status);
          expect(response.body.detail).to.match(detail);
          expect((await hp.request('GET', `/api/status/history/${MAC}`)).body.total, 'no history row written').to.equal(
            1,
          );
        });
      }

      it('rejects malformed JSON with 400 and a body over the limit with 413', async () => {
        const malformed = await hp.request('POST', '/api/status/phase', {
          body: '{"mac": "52:54',
          headers: { 'content-type': 'application/json' },
        });
        expect(malformed.status).to.equal(400);
        expect(malformed.body.error).to.equal('bad_request');
        const huge = await hp.request('POST', '/api/status/phase', {
          body: JSON.stringify({ mac: MAC, phase: 'installation', message: 'x'.repeat(200 * 1024) }),
        });
        expect(huge.status).to.equal(413);
        expect(huge.body).to.deep.equal({ error: 'payload_too_large', detail: 'request body is over the size limit' });
      });

      // curl -d sends application/x-www-form-urlencoded unless told otherwise; a body of any other type was read as none.
      const wrongTypes: [string, string, string, RegExp][] = [
        [
          'JSON sent as a form (curl -d)',
          'application/x-www-form-urlencoded',
          JSON.stringify({ mac: MAC, phase: 'installation' }),
          /^content-type application\/x-www-form-urlencoded but the body is JSON: send it as application\/json/,
        ],
        [
          'text/plain',
          'text/plain',
          JSON.stringify({ mac: MAC, phase: 'installation' }),
          /^content-type text\/plain is not accepted: send application\/json or application\/x-www-form-urlencoded$/,
        ],
        [
          'no content type',
          '',
          'mac=x',
          /^content-type \(none\) is not accepted: send application\/json or application\/x-www-form-urlencoded$/,
        ],
      ];
      for (const [name, type, body, detail] of wrongTypes) {
        for (const [route, admin] of [
          ['/api/status/phase', false],
          ['/api/nodes', true],
        ] as const) {
          it(`answers ${name} to ${route} with a 415 naming the content type`, async () => {
            await register({ mac: MAC });
            const headers: Record<string, string> = {
              authorization: admin ? `Bearer ${hp.adminToken}` : '',
              'x-homeport-token': await hp.tokenFor(MAC),
              ...(type ? { 'content-type': type } : {}),
            };
            // A Blob without a type: fetch sends no content-type at all (a string body would get text/plain).
            const response = await fetch(hp.baseUrl + route, { method: 'POST', headers, body: new Blob([body]) });
            const answer = (await response.json()) as { error: string; detail: string };
            expect(response.status).to.equal(415);
            expect(answer.error).to.equal('unsupported_media_type');
            expect(answer.detail).to.match(detail);
          });
        }
      }

      it('refuses a profile homeport does not have on create and edit, naming the known ones', async () => {
        const known = /^no profile debain \(known: debian, linux-initramfs, proxmox\)$/;
        const created = await hp.request('POST', '/api/nodes', { admin: true, body: { mac: MAC, profile: 'debain' } });
        expect(created.status).to.equal(400);
        expect(created.body).to.include({ error: 'invalid_request' });
        expect(created.body.detail).to.match(/^profile: /);
        expect(created.body.detail.replace(/^profile: /, '')).to.match(known);
        expect((await hp.request('GET', '/api/nodes', { admin: true })).body.nodes, 'nothing created').to.deep.equal(
          [],
        );
        expect(
          (await hp.request('POST', '/api/nodes', { admin: true, body: { mac: MAC, profile: 'debian' } })).status,
        ).to.equal(201);
        const edited = await hp.request('PATCH', `/api/nodes/${MAC}`, { admin: true, body: { profile: 'debain' } });
        expect(edited.status).to.equal(400);
        expect(edited.body.detail.replace(/^profile: /, '')).to.match(known);
        expect((await hp.request('GET', `/api/nodes/${MAC}`, { admin: true })).body.profile, 'unchanged').to.equal(
          'debian',
        );
        expect(
          (await hp.request('PATCH', `/api/nodes/${MAC}`, { admin: true, body: { profile: null } })).status,
          'clearing it is fine',
        ).to.equal(200);
      });

      it('rejects bad path and query parameters', async () => {
        expect((await hp.request('GET', '/api/status/nodes/not_a%3Bhostname')).body.detail).to.equal(
          'id: must be a node id, a MAC address or a hostname',
        );
        expect((await hp.request('GET', '/api/status/nodes/no-such-host')).status).to.equal(404);
        expect((await hp.request('GET', '/api/status/deployment/999.1.1.1')).status).to.equal(400);
        await register({ mac: MAC });
        expect((await hp.request('GET', `/api/status/history/${MAC}?order=sideways`)).body.detail).to.match(
          /^query order: /,
        );
        expect((await hp.request('GET', `/api/status/history/${MAC}?limit=-1`)).body.detail).to.match(/^query limit: /);
        expect((await hp.request('GET', '/api/status/nodes/99999')).status).to.equal(404);
      });
    });
  });
}

describe('open phone-home (trusted labs)', function () {
  this.timeout(30_000);
  it('accepts register and phase calls without a token when auth.openPhoneHome is on', async () => {
    const hp = await startTestHomeport({ env: { HOMEPORT_AUTH__OPENPHONEHOME: 'true' } });
    try {
      expect((await hp.request('POST', '/api/nodes/register', { body: { mac: MAC } })).status).to.equal(201);
      expect(
        (await hp.request('POST', '/api/status/phase', { body: { mac: MAC, phase: 'installation' } })).status,
      ).to.equal(200);
    } finally {
      await hp.stop();
    }
  });
});
