import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { HOMEPORT_BIN, runProcess } from '../helpers/cli.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { freePort } from '../helpers/ports.js';
import { clients, RawClient, run } from '../tftp/helpers.js';

const SEEN_LIMIT = 5;

/**
 * The timeline from real protocol clients against a homeport on loopback:
 * curl's TFTP client, HTTP fetches of scripts, assets and phone-home calls.
 * Nothing boots; each fault is caused for real and the verdict must name it.
 */
describe('boot timeline from real clients', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  let tftpPort: number;

  before(async () => {
    tftpPort = await freePort();
    const assets = fs.mkdtempSync('/tmp/homeport-timeline-assets-');
    fs.mkdirSync(path.join(assets, 'debian'));
    fs.writeFileSync(path.join(assets, 'debian', 'linux'), Buffer.alloc(300_000, 7));
    fs.writeFileSync(path.join(assets, 'debian', 'big'), Buffer.alloc(20 * 1024 * 1024, 7));
    hp = await startTestHomeport({
      env: {
        HOMEPORT_TFTP__ENABLED: 'true',
        HOMEPORT_TFTP__HOST: '127.0.0.1',
        HOMEPORT_TFTP__PORT: String(tftpPort),
        HOMEPORT_BOOT__UNKNOWN: 'deny',
        HOMEPORT_BOOT__ASSETSDIR: assets,
        HOMEPORT_TIMELINE__SEENLIMIT: String(SEEN_LIMIT),
        HOMEPORT_TFTP__TIMEOUTMS: '100',
        HOMEPORT_TFTP__RETRIES: '1',
        HOMEPORT_BOOT__ASSETSTALLSECONDS: '30',
      },
    });
    fs.mkdirSync(path.join(hp.dataDir, 'tftp'), { recursive: true });
    fs.writeFileSync(path.join(hp.dataDir, 'tftp', 'stall.efi'), Buffer.alloc(5000, 1));
  });
  after(async () => hp?.stop());

  const events = () => hp.homeport.timeline!;
  /** What a DHCP ACK for this MAC teaches homeport: which MAC 127.0.0.1 is (the DHCP path is the e2e suite's). */
  const dhcpAcked = (mac: string) => events().addresses.learn('127.0.0.1', mac);
  const timelineOf = async (ref: string) => {
    await events().flush();
    const response = await hp.request('GET', `/api/nodes/${ref}/timeline`);
    expect(response.status, response.text).to.equal(200);
    return response;
  };
  const rowCount = async () =>
    Number(((await hp.homeport.db.knex('boot_events').count({ n: '*' })) as { n: unknown }[])[0]!.n);

  it('TFTP file not found: the verdict names the file', async () => {
    dhcpAcked('52:54:00:19:00:01');
    const [command, args] = clients.curl(tftpPort, 'missing-snponly.efi', '/dev/null');
    const result = await run(command, args, 20_000);
    expect(result.code).to.not.equal(0);
    const { body } = await timelineOf('52-54-00-19-00-01');
    expect(body.verdict.verdict).to.equal('tftp_not_found');
    expect(body.verdict.summary).to.equal('TFTP file not found: missing-snponly.efi');
    expect(body.node_id).to.equal(null);
    expect(body.attempt.events[0]).to.include({ source: 'tftp', kind: 'read', outcome: 'not_found' });
  });

  it('an unknown machine under boot.unknown=deny: the verdict says deny and why, the seen list has it', async () => {
    const script = await fetch(`${hp.baseUrl}/boot/52-54-00-19-00-02.ipxe`);
    expect(script.headers.get('x-homeport-boot')).to.equal('deny');
    const { body } = await timelineOf('52:54:00:19:00:02');
    expect(body.verdict.verdict).to.equal('script_deny');
    expect(body.verdict.summary).to.match(/unknown machine, boot\.unknown=deny/);
    const seen = await hp.request('GET', '/api/seen', { admin: true });
    expect(seen.body.machines.map((m: { mac: string }) => m.mac)).to.include('52:54:00:19:00:02');
  });

  it('a kernel served whole and an initrd that is missing: the verdict names the missing asset', async () => {
    await fetch(`${hp.baseUrl}/boot/52-54-00-19-00-03.ipxe`); // teaches homeport which MAC this address is
    const kernel = await fetch(`${hp.baseUrl}/assets/debian/linux`);
    expect((await kernel.arrayBuffer()).byteLength).to.equal(300_000);
    expect((await fetch(`${hp.baseUrl}/assets/debian/initrd.gz`)).status).to.equal(404);
    let body: { verdict: { verdict: string; summary: string }; attempt: { events: Record<string, unknown>[] } };
    // The kernel's event is written when its response closes, just after the client has its last byte.
    for (let i = 0; ; i++) {
      body = (await timelineOf('52:54:00:19:00:03')).body;
      if (body.attempt.events.length >= 3 || i >= 20) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(body.verdict.verdict).to.equal('asset_missing');
    expect(body.verdict.summary).to.equal('/assets/debian/initrd.gz 404: not under boot.assetsDir');
    const served = body.attempt.events.find((e) => e.outcome === 'complete')!;
    expect(served.detail).to.include({ path: '/assets/debian/linux', bytes: 300_000, total: 300_000 });
  });

  it('TFTP stalled: a client that stops acknowledging after block 1 gets "stalled at block 1"', async () => {
    dhcpAcked('52:54:00:19:00:05');
    const client = await RawClient.open();
    try {
      client.send({ type: 'RRQ', filename: 'stall.efi', mode: 'octet', options: new Map() }, tftpPort);
      const first = await client.next(0);
      expect(first?.packet).to.include({ type: 'DATA', block: 1 });
      client.send({ type: 'ACK', block: 1 }, first!.from.port);
      let body: { verdict: { verdict: string; summary: string } } | undefined;
      for (let i = 0; i < 50 && body?.verdict.verdict !== 'tftp_stalled'; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        body = (await timelineOf('52:54:00:19:00:05')).body;
      }
      expect(body!.verdict.summary).to.equal('TFTP stall.efi stalled at block 1');
    } finally {
      client.close();
    }
  });

  it('a kernel download the client abandons half way: aborted, with the bytes sent of the total', async () => {
    await fetch(`${hp.baseUrl}/boot/52-54-00-19-00-06.ipxe`);
    const controller = new AbortController();
    const response = await fetch(`${hp.baseUrl}/assets/debian/big`, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    let body: { verdict: { verdict: string; summary: string } } | undefined;
    for (let i = 0; i < 50 && body?.verdict.verdict !== 'asset_aborted'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      body = (await timelineOf('52:54:00:19:00:06')).body;
    }
    expect(body!.verdict.verdict).to.equal('asset_aborted');
    expect(body!.verdict.summary).to.match(
      /^\/assets\/debian\/big download aborted at \d+ % \(\d+ of 20971520 bytes\)$/,
    );
  });

  it('homeport timeline prints the verdict first, then the attempt; --json is the API document; exit 5 on a fault', async () => {
    await events().flush();
    const env = { HOMEPORT_CONFIG: '', HOMEPORT_ADMIN_TOKEN: hp.adminToken, HOMEPORT_DATADIR: hp.dataDir };
    const text = await runProcess(HOMEPORT_BIN, ['timeline', '52-54-00-19-00-01', '--url', hp.baseUrl], env);
    expect(text.status, text.stderr).to.equal(5);
    const lines = text.stdout.split('\n');
    expect(lines[0]).to.equal('52:54:00:19:00:01 (unknown machine)');
    expect(lines[1]).to.equal('verdict: tftp_not_found: TFTP file not found: missing-snponly.efi');
    expect(text.stdout).to.match(/\+ +0\.0 s {2}tftp read → not_found {2}file=missing-snponly\.efi/);
    const json = await runProcess(HOMEPORT_BIN, ['timeline', '52:54:00:19:00:01', '--url', hp.baseUrl, '--json'], env);
    expect(JSON.parse(json.stdout)).to.deep.equal((await timelineOf('52:54:00:19:00:01')).body);
  });

  it('attack: a refused phone-home is in the timeline with its reason, never a token', async () => {
    const mac = '52:54:00:19:00:04';
    const token = await hp.tokenFor(mac);
    const forged = 'forged-token-0123456789abcdef';
    const refused = await hp.request('POST', '/api/status/phase', {
      body: { mac, phase: 'foundation_start', status: 'in_progress' },
      headers: { 'x-homeport-token': forged },
    });
    expect(refused.status).to.equal(401);
    const { body, text } = await timelineOf(mac);
    expect(body.verdict.verdict).to.equal('phone_home_refused');
    expect(body.verdict.summary).to.match(/wrong/);
    expect(text).to.not.include(forged);
    expect(text).to.not.include(token);
  });

  it('attack: the seen list is admin only, and a GET of a timeline writes nothing', async () => {
    expect((await hp.request('GET', '/api/seen')).status).to.equal(401);
    await events().flush();
    const before = await rowCount();
    for (const ref of ['52:54:00:19:00:01', '52:54:00:19:00:99', '52:54:00:19:00:02'])
      await hp.request('GET', `/api/nodes/${ref}/timeline`);
    await events().flush();
    expect(await rowCount()).to.equal(before);
    expect((await hp.request('GET', '/api/nodes/not-a-node/timeline')).status).to.equal(404);
  });

  it('attack: a stranger presenting many new MACs fills only the bounded seen list', async () => {
    for (let i = 0; i < 40; i++)
      await fetch(`${hp.baseUrl}/boot/02-00-00-19-01-${i.toString(16).padStart(2, '0')}.ipxe`);
    await events().flush();
    const seen = await hp.request('GET', '/api/seen', { admin: true });
    expect(seen.body.machines).to.have.length(SEEN_LIMIT);
    expect(seen.body.machines[0].mac).to.equal('02:00:00:19:01:27');
    const unknownRows = (await hp.homeport.db.knex('boot_events').whereNull('node_id').count({ n: '*' })) as {
      n: unknown;
    }[];
    expect(Number(unknownRows[0]!.n)).to.be.at.most(SEEN_LIMIT * 2);
  });
});
