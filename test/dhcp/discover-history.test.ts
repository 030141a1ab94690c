/**
 * A known machine's repeated DHCP DISCOVERs of one boot attempt make one
 * `dhcp_discover` history row (issue 17), with the real `homeport serve` in
 * full DHCP mode inside a network namespace this test creates, and raw
 * DISCOVERs sent from a host namespace wired to its bridge.
 */
import { expect } from 'chai';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { MessageType } from '../../server/dhcp/codec.js';
import { migrateLatest, openDatabase } from '../../server/store/db.js';
import { HOMEPORT_BIN } from '../helpers/cli.js';
import { probe, probeHost } from '../helpers/dhcp-lab.js';
import { newRoundNonce, roundToken } from '../../server/auth/rounds.js';
import { createLab, sleep, stopChild, type Lab } from '../helpers/netns.js';

const subnet = '10.77.53';
const serverIp = `${subnet}.1`;
const KNOWN_MAC = '02:00:00:53:00:01';
const PXE_BIOS = Buffer.from('PXEClient:Arch:00000:UNDI:002001').toString('hex');

describe('dhcp_discover history: one row per boot attempt (real DHCP in a namespace)', function () {
  this.timeout(120_000);
  let lab: Lab;
  let dir: string;
  let serve: ChildProcess | null = null;
  let sqlitePath: string;
  const nonce = newRoundNonce();

  const discoverRows = async (): Promise<number> => {
    const db = openDatabase({ sqlitePath, synchronous: 'NORMAL', busyTimeoutMs: 5000 });
    try {
      const row = await db
        .knex('deployment_history')
        .join('nodes', 'nodes.id', 'deployment_history.node_id')
        .where({ 'nodes.mac': KNOWN_MAC, phase: 'dhcp_discover' })
        .count({ n: '*' })
        .first();
      return Number(row?.n ?? 0);
    } finally {
      await db.close();
    }
  };

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-discover-'));
    sqlitePath = path.join(dir, 'data', 'homeport.sqlite');
    const db = openDatabase({ sqlitePath, synchronous: 'NORMAL', busyTimeoutMs: 5000 });
    await migrateLatest(db.knex);
    await db.knex('nodes').insert({
      mac: KNOWN_MAC,
      hostname: 'known1',
      status: 'registered',
      labels: '{}',
      registered_at: Date.now(),
      last_update: Date.now(),
      round_nonce: nonce,
      round_opened_at: Date.now(),
    });
    await db.close();
    const config = {
      dataDir: path.join(dir, 'data'),
      http: { host: '127.0.0.1', port: 8080 },
      dhcp: {
        mode: 'full',
        interface: 'br0',
        serverIp,
        pool: { start: `${subnet}.100`, end: `${subnet}.150`, subnetMask: '255.255.255.0' },
      },
      watcher: { enabled: false },
    };
    fs.writeFileSync(path.join(dir, 'homeport.yaml'), YAML.stringify(config));
    lab = await createLab({ subnet });
    await lab.addHost('client');
    serve = lab.spawn(lab.ns, HOMEPORT_BIN, ['serve', '--config', path.join(dir, 'homeport.yaml')], {
      env: { ...process.env, INVOCATION_ID: '' },
    });
    let log = '';
    serve.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    for (let i = 0; i < 300 && !log.includes('dhcp listening'); i++) {
      if (serve.exitCode !== null) throw new Error(`homeport exited ${serve.exitCode}: ${log}`);
      await sleep(100);
    }
    expect(log, 'homeport serves DHCP on br0').to.contain('dhcp listening');
  });

  after(async () => {
    if (serve) await stopChild(serve);
    await lab?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('five retransmitted DISCOVERs from a PXE ROM make one row; after a phase report the next boot attempt makes one more', async () => {
    const host = await probeHost(lab, 'pxe', `${subnet}.60`);
    const discover = () =>
      probe(lab, host, {
        to: '255.255.255.255',
        port: 67,
        waitMs: 300,
        packet: { messageType: MessageType.DISCOVER, mac: KNOWN_MAC, flags: 0x8000, options: { 60: PXE_BIOS } },
      });
    for (let i = 0; i < 5; i++) expect((await discover()).length, `DISCOVER ${i + 1} answered`).to.be.at.least(1);
    expect(await discoverRows()).to.equal(1);
    // The installer reports a phase: the node moved on, so the next DISCOVER is another boot attempt.
    const token = roundToken(fs.readFileSync(path.join(dir, 'data', 'secret'), 'utf8').trim(), KNOWN_MAC, nonce);
    const report = await lab.exec(lab.ns, 'curl', [
      '-sS',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      'content-type: application/json',
      '--data-binary',
      JSON.stringify({ mac: KNOWN_MAC, phase: 'installation', token }),
      'http://127.0.0.1:8080/api/status/phase',
    ]);
    expect(report.stdout, report.stderr).to.equal('200');
    for (let i = 0; i < 3; i++) await discover();
    expect(await discoverRows()).to.equal(2);
  });

  it("boot events: DHCP answers land in the timeline with the client's vendor class, retransmissions coalesced; an unknown MAC in the seen list", async () => {
    const host = await probeHost(lab, 'pxe2', `${subnet}.61`);
    const stranger = '02:00:00:53:00:99';
    await probe(lab, host, {
      to: '255.255.255.255',
      port: 67,
      waitMs: 300,
      packet: { messageType: MessageType.DISCOVER, mac: stranger, flags: 0x8000, options: { 60: PXE_BIOS } },
    });
    const adminToken = fs.readFileSync(path.join(dir, 'data', 'admin.token'), 'utf8').trim();
    const get = async (urlPath: string) => {
      const result = await lab.exec(lab.ns, 'curl', [
        '-sS',
        '-H',
        `authorization: Bearer ${adminToken}`,
        `http://127.0.0.1:8080${urlPath}`,
      ]);
      return JSON.parse(result.stdout) as Record<string, unknown>;
    };
    let seen: { mac: string; last: { kind: string; outcome: string; detail: Record<string, unknown> } }[] = [];
    for (let i = 0; i < 20 && seen.length === 0; i++) {
      seen = (await get('/api/seen')).machines as typeof seen;
      if (seen.length === 0) await sleep(100);
    }
    expect(seen.map((m) => m.mac)).to.deep.equal([stranger]);
    expect(seen[0]!.last).to.deep.include({ kind: 'DISCOVER', outcome: 'offer' });
    expect(seen[0]!.last.detail).to.include({ vendorClass: 'PXEClient:Arch:00000:UNDI:002001', ipxe: false });
    const timeline = (await get(`/api/nodes/${KNOWN_MAC}/timeline`)) as {
      node_id: number;
      attempt: { events: { source: string; kind: string; outcome: string }[] };
    };
    expect(timeline.node_id).to.be.a('number');
    const discovers = timeline.attempt.events.filter((e) => e.source === 'dhcp' && e.kind === 'DISCOVER');
    // Eight DISCOVERs were sent, in two bursts; each burst is written once.
    expect(discovers.length).to.be.within(1, 2);
    expect(discovers[0]!.outcome).to.equal('offer');
  });
});
