import { expect } from 'chai';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { bootScript, insertNodeDirectly, phases } from './helpers.js';

const MAC = '52:54:00:b0:00:01';
const UUID = 'a0b1c2d3-0000-4000-8000-000000000001';

/** Ends like a script the entry script retries (exit 1) or leaves iPXE after (exit 0). */
const endsWith = (text: string, code: 0 | 1) => expect(text.trimEnd().split('\n').pop()).to.equal(`exit ${code}`);

for (const kind of DATABASE_KINDS) {
  describe(`HTTP boot on ${kind}: known, unknown and installed machines`, function () {
    this.timeout(30_000);
    let hp: TestHomeport;
    afterEach(async () => hp?.stop());

    it('serves the entry script with the chain URL built from the request host', async () => {
      hp = await startTestHomeport({ kind });
      const response = await fetch(`${hp.baseUrl}/boot.ipxe`);
      expect(response.status).to.equal(200);
      expect(response.headers.get('content-type')).to.match(/^text\/plain/);
      const text = await response.text();
      expect(text).to.match(/^#!ipxe\n/);
      expect(text).to.contain(
        `chain --autofree ${hp.baseUrl}/boot/\${net0/mac:hexhyp}.ipxe?uuid=\${uuid}&arch=\${buildarch}&platform=\${platform}`,
      );
    });

    it('records one ipxe_boot per boot attempt: fetching the script again at once adds no row, a new attempt does', async () => {
      hp = await startTestHomeport({ kind });
      await hp.request('POST', '/api/nodes', { admin: true, body: { mac: MAC, hostname: 'deb1', profile: 'debian' } });
      for (let i = 0; i < 3; i++) expect((await bootScript(hp, MAC)).kind).to.equal('install');
      expect(
        (await phases(hp, MAC)).map((e) => e.phase),
        'iPXE asking three times',
      ).to.deep.equal(['ipxe_boot']);
      const token = await hp.tokenFor(MAC);
      const report = await hp.request('POST', '/api/status/phase', {
        body: { mac: MAC, phase: 'installation', status: 'in_progress' },
        headers: { 'x-homeport-token': token },
      });
      expect(report.status).to.equal(200);
      expect((await bootScript(hp, MAC)).kind, 'the machine rebooted into iPXE').to.equal('install');
      expect((await phases(hp, MAC)).map((e) => e.phase)).to.deep.equal(['ipxe_boot', 'installation', 'ipxe_boot']);
    });

    it('renders again after any change to the node: a script kept for a node row is never served for a changed one', async () => {
      hp = await startTestHomeport({ kind });
      const add = await hp.request('POST', '/api/nodes', {
        admin: true,
        body: { mac: MAC, hostname: 'gen1', profile: 'linux-initramfs' },
      });
      expect(add.status).to.equal(201);
      const first = await bootScript(hp, MAC);
      expect((await bootScript(hp, MAC)).text, 'asked again: the same bytes').to.equal(first.text);
      const token = (text: string) => /homeport\.token=(\S+)/.exec(text)?.[1];
      expect(token(first.text)).to.be.a('string');
      const reprovisioned = await hp.request('POST', '/api/reprovision', { admin: true, body: { nodes: [MAC] } });
      expect(reprovisioned.status, JSON.stringify(reprovisioned.body)).to.be.oneOf([200, 201, 202]);
      const newRound = await bootScript(hp, MAC);
      expect(token(newRound.text), 'a new install round: a new token in the script').to.not.equal(token(first.text));

      const changed = await hp.request('PATCH', `/api/nodes/${MAC}`, {
        admin: true,
        body: { hostname: 'deb1', profile: 'debian' },
      });
      expect(changed.status).to.equal(200);
      const debian = await bootScript(hp, MAC);
      expect(debian.text).to.contain('hostname=deb1');
      expect(debian.text).to.contain('/assets/debian/');
    });

    it('boots a known node its profile, records ipxe_boot and config_download, and stores uuid/arch from iPXE', async () => {
      hp = await startTestHomeport({ kind });
      await hp.request('POST', '/api/nodes', { admin: true, body: { mac: MAC, hostname: 'deb1', profile: 'debian' } });
      const script = await bootScript(hp, MAC, `uuid=${UUID.toUpperCase()}&arch=x86_64&platform=efi`);
      expect(script).to.deep.include({ status: 200, kind: 'install' });
      expect(script.text).to.contain(
        `kernel --name linux ${hp.baseUrl}/assets/debian/bookworm/amd64/linux initrd=initrd.gz auto=true priority=critical url=${hp.baseUrl}/config/52-54-00-b0-00-01/preseed hostname=deb1`,
      );
      expect(script.text).to.contain(`initrd --name initrd.gz ${hp.baseUrl}/assets/debian/bookworm/amd64/initrd.gz`);
      const node = await hp.request('GET', `/api/nodes/${MAC}`, { admin: true });
      expect(node.body).to.include({ uuid: UUID, arch: 'x86_64', netboot_enabled: true });

      const preseed = await fetch(`${hp.baseUrl}/config/${MAC}/preseed`);
      expect(preseed.status).to.equal(200);
      expect(await preseed.text()).to.contain('d-i netcfg/get_hostname string deb1');
      const history = await phases(hp, MAC);
      expect(history.map((e) => [e.phase, e.status, e.source])).to.deep.equal([
        ['ipxe_boot', 'completed', 'server'],
        ['config_download', 'completed', 'server'],
      ]);
      expect(history[1]!.message).to.equal('served config preseed');
    });

    it('registers an unknown machine as discovered and makes it wait while no profile applies', async () => {
      hp = await startTestHomeport({ kind });
      const first = await bootScript(hp, MAC, `uuid=${UUID}&arch=x86_64&platform=pcbios`);
      expect(first.kind).to.equal('wait');
      expect(first.text).to.match(/^#!ipxe\n/);
      expect(first.text).to.contain('no profile assigned');
      endsWith(first.text, 1);
      expect((await bootScript(hp, MAC)).kind).to.equal('wait');
      const nodes = await hp.request('GET', '/api/nodes', { admin: true });
      expect(nodes.body.nodes).to.have.length(1);
      expect(nodes.body.nodes[0]).to.include({ mac: MAC, status: 'discovered', uuid: UUID, arch: 'x86_64' });
      // Assigning a profile is all it takes: the next ask boots it.
      await hp.request('PATCH', `/api/nodes/${MAC}`, { admin: true, body: { profile: 'linux-initramfs' } });
      expect((await bootScript(hp, MAC)).kind).to.equal('install');
    });

    it('boot-once: an installed node boots its disk, and netboot turned back on serves the install again', async () => {
      hp = await startTestHomeport({ kind });
      await hp.request('POST', '/api/nodes', { admin: true, body: { mac: MAC, hostname: 'deb1', profile: 'debian' } });
      expect((await bootScript(hp, MAC)).kind).to.equal('install');
      const done = await hp.request('POST', '/api/nodes/register', {
        body: { mac: MAC, status: 'post-install-complete' },
        headers: { 'x-homeport-token': await hp.tokenFor(MAC) },
      });
      expect(done.body.node.netboot_enabled).to.equal(false);
      const local = await bootScript(hp, MAC);
      expect(local.kind).to.equal('local');
      expect(local.text).to.contain('iseq ${platform} efi && goto homeport_efi || goto homeport_pcbios');
      expect(local.text).not.to.contain('kernel');
      endsWith(local.text, 0);
      expect(
        (await phases(hp, MAC)).filter((e) => e.phase === 'ipxe_boot'),
        'a local boot is not an install boot',
      ).to.have.length(1);

      const reprovision = await hp.request('PATCH', `/api/nodes/${MAC}`, {
        admin: true,
        body: { netboot_enabled: true },
      });
      expect(reprovision.body.netboot_enabled).to.equal(true);
      const again = await bootScript(hp, MAC);
      expect(again.kind).to.equal('install');
      expect(again.text).to.contain('kernel --name linux');
      const status = await hp.request('GET', `/api/status/nodes/${MAC}`);
      expect(status.body, 'ipxe_boot after deployed restarts the install').to.include({
        deployment_status: 'ipxe_boot',
      });
    });
  });
}

describe('HTTP boot: policies, selectors and errors (SQLite)', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  afterEach(async () => hp?.stop());

  it('unknown: default boots the default profile; the machine is registered so that its install has a round, configs included', async () => {
    hp = await startTestHomeport({
      env: { HOMEPORT_BOOT__UNKNOWN: 'default', HOMEPORT_BOOT__DEFAULTPROFILE: 'linux-initramfs' },
    });
    const script = await bootScript(hp, MAC);
    expect(script.kind).to.equal('install');
    expect(script.text).to.contain(`homeport.mac=${MAC} homeport.token=${await hp.tokenFor(MAC)}`);
    const install = await fetch(`${hp.baseUrl}/config/${MAC}/install`);
    expect(install.status).to.equal(200);
    const nodes = (await hp.request('GET', '/api/nodes', { admin: true })).body.nodes;
    expect(nodes).to.have.length(1);
    expect(nodes[0]).to.include({ mac: MAC, status: 'discovered', address: '127.0.0.1' });
  });

  it('unknown: deny sends the machine to its next boot device and registers nothing', async () => {
    hp = await startTestHomeport({ env: { HOMEPORT_BOOT__UNKNOWN: 'deny', HOMEPORT_BOOT__DEFAULTPROFILE: 'debian' } });
    const script = await bootScript(hp, MAC);
    expect(script.kind).to.equal('deny');
    expect(script.text).to.contain('not a known machine');
    endsWith(script.text, 0);
    expect((await fetch(`${hp.baseUrl}/config/${MAC}/preseed`)).status).to.equal(404);
    expect((await hp.request('GET', '/api/nodes', { admin: true })).body.nodes).to.have.length(0);
  });

  it('unknown: discover with a default profile registers the machine and boots it', async () => {
    hp = await startTestHomeport({ env: { HOMEPORT_BOOT__DEFAULTPROFILE: 'debian' } });
    expect((await bootScript(hp, MAC)).kind).to.equal('install');
    expect((await phases(hp, MAC)).map((e) => e.phase)).to.deep.equal(['ipxe_boot']);
    const node = await hp.request('GET', `/api/nodes/${MAC}`, { admin: true });
    expect(node.body).to.include({ status: 'discovered' });
  });

  it('picks profiles by MAC, UUID, arch, labels and cluster selectors, in order', async () => {
    const groups = [
      { profile: 'proxmox', match: { mac: '52-54-00-B0-00-01' } },
      { profile: 'proxmox', match: { uuid: UUID } },
      { profile: 'linux-initramfs', match: { arch: ['arm64'] } },
      { profile: 'proxmox', match: { labels: { role: 'hypervisor' } } },
      { profile: 'linux-initramfs', match: { cluster: 'edge' } },
    ];
    hp = await startTestHomeport({
      env: { HOMEPORT_BOOT__GROUPS: JSON.stringify(groups), HOMEPORT_BOOT__DEFAULTPROFILE: 'debian' },
    });
    const kernelOf = async (mac: string, query?: string) =>
      /kernel --name (\S+)/.exec((await bootScript(hp, mac, query)).text)?.[1];
    expect(await kernelOf(MAC), 'mac').to.equal('linux26');
    expect(await kernelOf('52:54:00:b0:00:02', `uuid=${UUID}&arch=x86_64&platform=efi`), 'uuid').to.equal('linux26');
    expect(await kernelOf('52:54:00:b0:00:03', 'uuid=&arch=arm64&platform=efi'), 'arch').to.equal('vmlinuz');
    await hp.request('POST', '/api/nodes', {
      admin: true,
      body: { mac: '52:54:00:b0:00:04', labels: { role: 'hypervisor' } },
    });
    expect(await kernelOf('52:54:00:b0:00:04'), 'labels').to.equal('linux26');
    await hp.request('POST', '/api/nodes', { admin: true, body: { mac: '52:54:00:b0:00:05', cluster: 'edge' } });
    expect(await kernelOf('52:54:00:b0:00:05'), 'cluster').to.equal('vmlinuz');
    expect(await kernelOf('52:54:00:b0:00:06'), 'default').to.equal('linux');
    await hp.request('POST', '/api/nodes', {
      admin: true,
      body: { mac: '52:54:00:b0:00:07', cluster: 'edge', profile: 'debian' },
    });
    expect(await kernelOf('52:54:00:b0:00:07'), "the node's own profile first").to.equal('linux');
  });

  it('turns netboot off when a profile says so (Proxmox: after the answer file is served)', async () => {
    hp = await startTestHomeport();
    await hp.request('POST', '/api/nodes', { admin: true, body: { mac: MAC, hostname: 'pve1', profile: 'proxmox' } });
    // The Proxmox installer POSTs its system information to the answer URL.
    const answer = await fetch(`${hp.baseUrl}/config/${MAC}/answer`, {
      method: 'POST',
      body: JSON.stringify({ network_interfaces: [] }),
      headers: { 'content-type': 'application/json' },
    });
    expect(answer.status).to.equal(200);
    expect(await answer.text()).to.contain('fqdn = "pve1.lab.internal"');
    expect((await bootScript(hp, MAC)).kind).to.equal('local');
  });

  it('answers every iPXE failure with an iPXE script that explains and lets the entry script retry', async () => {
    hp = await startTestHomeport();
    // The API refuses an unknown profile; a profile file removed after the node named it is what this is about.
    await insertNodeDirectly(hp, MAC, { profile: 'gone' });
    const cases: [string, RegExp][] = [
      [`/boot/${MAC.replace(/:/g, '-')}.ipxe`, /profile gone \(node\) does not exist/],
      ['/boot/not-a-mac.ipxe', /mac: must be a MAC address/],
      ['/boot/52-54-00-b0-00-09.ipxe?uuid=nope', /query uuid: must be a UUID/],
      ['/boot/52-54-00-b0-00-09.ipxe?arch=a&arch=b', /query arch: must be given once/],
    ];
    for (const [urlPath, message] of cases) {
      const response = await fetch(hp.baseUrl + urlPath);
      const text = await response.text();
      expect(response.status, urlPath).to.equal(200);
      expect(response.headers.get('x-homeport-boot'), urlPath).to.equal('error');
      expect(text, urlPath).to.match(/^#!ipxe\n# homeport: error\necho homeport: error - .*\nexit 1\n$/);
      expect(text, urlPath).to.match(message);
    }
    // Configs are fetched by installers, not iPXE: JSON errors.
    const config = await hp.request('GET', `/config/${MAC}/preseed`);
    expect(config.status).to.equal(404);
    expect(config.body).to.deep.equal({ error: 'not_found', detail: `node ${MAC} has no profile` });
    const missing = await hp.request('GET', '/config/52-54-00-b0-00-09/preseed');
    expect(missing.body).to.deep.equal({ error: 'not_found', detail: 'no node 52:54:00:b0:00:09' });
  });

  it('uses http.publicUrl in every URL it renders', async () => {
    hp = await startTestHomeport({
      env: { HOMEPORT_HTTP__PUBLICURL: 'http://boot.lab.internal:8080/', HOMEPORT_BOOT__DEFAULTPROFILE: 'debian' },
    });
    expect(await (await fetch(`${hp.baseUrl}/boot.ipxe`)).text()).to.contain(
      'chain --autofree http://boot.lab.internal:8080/boot/',
    );
    expect((await bootScript(hp, MAC)).text).to.contain(
      'url=http://boot.lab.internal:8080/config/52-54-00-b0-00-01/preseed',
    );
  });
});
