import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LOAD_REPORTS, loadMac } from '../../scripts/bench/phase-load.js';
import { DhcpLeasesRepo } from '../../server/store/dhcp-leases-repo.js';
import { migrateLatest, openDatabase } from '../../server/store/db.js';
import { probeHost, startDhcpRunner, type DhcpRunner } from '../helpers/dhcp-lab.js';
import type { RelayClientsResult, RelayClientsSpec } from '../helpers/dhcp-relay-clients.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { createLab, runOk, type Lab } from '../helpers/netns.js';
import { phaseStoreViolations } from '../helpers/phase-invariant.js';
import { createTestDatabase, testPostgres } from '../helpers/postgres.js';

/**
 * The same database through the test PostgreSQL's Unix socket: the lab's
 * namespaces have their own loopback, but share the file system.
 */
async function overUnixSocket(url: string): Promise<string> {
  const { dataDir } = await testPostgres();
  const parsed = new URL(url);
  return `postgres://${parsed.username}@${encodeURIComponent(dataDir)}:${parsed.port}${parsed.pathname}`;
}

const CLIENTS = 200;
const REPO = path.resolve(import.meta.dirname, '../..');

/**
 * Two homeport instances on one PostgreSQL (issue 11). Each DHCP server
 * keeps its own in-memory lease book, and both start from the same empty
 * pool, so left alone they would choose the same addresses for different
 * clients: only the store's claim (one transaction, row locks, unique ip)
 * keeps one address from going to two MACs.
 */
describe('two instances on one PostgreSQL serving full DHCP on one bridge', function () {
  this.timeout(180_000);
  const subnet = '10.79.0';
  const servers = [`${subnet}.1`, `${subnet}.2`];
  let lab: Lab;
  let dir: string;
  let databaseUrl: string;
  const runners: DhcpRunner[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-two-dhcp-'));
    databaseUrl = await createTestDatabase();
    lab = await createLab({ subnet, prefix: 16 });
    // Both servers on br0 in the switch namespace, each with its own address.
    await runOk('ip', ['-n', lab.ns, 'addr', 'add', `${servers[1]}/16`, 'dev', 'br0']);
    for (const serverIp of servers) {
      // One after the other: each migrates the shared database at start.
      runners.push(
        await startDhcpRunner(lab, {
          mode: 'full',
          interface: 'br0',
          serverIp,
          httpBaseUrl: `http://${serverIp}:8080`,
          sqlitePath: path.join(dir, 'unused.sqlite'),
          databaseUrl: await overUnixSocket(databaseUrl),
          logLevel: 'warn',
          // 250 addresses for 200 clients: the two books collide from the first address on.
          pool: {
            start: '10.79.1.1',
            end: '10.79.1.250',
            subnetMask: '255.255.0.0',
            router: servers[0],
            leaseSeconds: 3600,
          },
        }),
      );
    }
  });

  after(async () => {
    for (const runner of runners) await runner.stop();
    await lab?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it(`${CLIENTS} clients DORA against both servers at once: every client bound, no address handed to two MACs`, async () => {
    const relay = await probeHost(lab, 'clients', `${subnet}.9`);
    const spec: RelayClientsSpec = {
      servers,
      giaddr: `${subnet}.9`,
      clients: CLIENTS,
      firstMac: '02:00:00:79:00:00',
      concurrency: 20,
      attempts: 6,
      answerTimeoutMs: 3000,
    };
    const run = await lab.exec(
      relay.ns,
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'test/helpers/dhcp-relay-clients.ts'), JSON.stringify(spec)],
      { timeoutMs: 150_000 },
    );
    expect(run.code, run.stderr).to.equal(0);
    const result = JSON.parse(run.stdout.trim()) as RelayClientsResult;
    expect(result.failed, 'clients without a lease').to.deep.equal([]);
    expect(result.acks).to.have.length(CLIENTS);

    const macsByIp = new Map<string, Set<string>>();
    for (const ack of result.acks) macsByIp.set(ack.ip, (macsByIp.get(ack.ip) ?? new Set()).add(ack.mac));
    const handedTwice = [...macsByIp]
      .filter(([, macs]) => macs.size > 1)
      .map(([ip, macs]) => `${ip}: ${[...macs].join(', ')}`);
    expect(handedTwice, 'addresses ACKed to two MACs').to.deep.equal([]);
    const byServer = Object.fromEntries(servers.map((s) => [s, result.acks.filter((a) => a.server === s).length]));
    console.log(
      `      ${CLIENTS} clients: ${result.acks.length} ACKs (${JSON.stringify(byServer)}), ${result.naks} NAKs, ${handedTwice.length} addresses handed to two MACs`,
    );
    expect(
      Object.values(byServer).every((n) => n > 0),
      `both servers answered: ${JSON.stringify(byServer)}`,
    ).to.equal(true);

    // The store agrees with what the clients were told.
    const db = openDatabase({
      url: databaseUrl,
      sqlitePath: path.join(dir, 'unused.sqlite'),
      synchronous: 'FULL',
      busyTimeoutMs: 5000,
    });
    try {
      const bound = (await db.knex('leases').where({ state: 'bound' }).select('mac', 'ip')) as {
        mac: string;
        ip: string;
      }[];
      expect(new Map(bound.map((l) => [l.mac, l.ip]))).to.deep.equal(new Map(result.acks.map((a) => [a.mac, a.ip])));
    } finally {
      await db.close();
    }
  });

  it('the store decides, not timing: two instances claiming one address for two MACs at the same moment, one wins every time', async () => {
    const url = await createTestDatabase();
    const [a, b] = [0, 1].map(() =>
      openDatabase({ url, sqlitePath: path.join(dir, 'unused.sqlite'), synchronous: 'FULL', busyTimeoutMs: 5000 }),
    );
    try {
      await migrateLatest(a!.knex);
      const [repoA, repoB] = [new DhcpLeasesRepo(a!.knex), new DhcpLeasesRepo(b!.knex)];
      const now = Date.now();
      let wins = 0;
      for (let i = 0; i < 50; i++) {
        const ip = `10.79.2.${i + 1}`;
        const lease = (mac: string) => ({ mac, ip, state: 'offered' as const, expiresAt: now + 60_000 });
        const [[x], [y]] = await Promise.all([
          repoA.claim([{ lease: lease(`02:00:00:aa:00:${(i + 16).toString(16)}`) }], now),
          repoB.claim([{ lease: lease(`02:00:00:bb:00:${(i + 16).toString(16)}`) }], now),
        ]);
        expect([x!.ok, y!.ok].filter(Boolean), `claims of ${ip}`).to.have.length(1);
        wins++;
      }
      const rows = (await a!.knex('leases').select('ip')) as { ip: string }[];
      expect(rows).to.have.length(wins);
    } finally {
      await a!.close();
      await b!.close();
    }
  });
});

describe('two instances on one PostgreSQL: phase reports sent to both give one summary', function () {
  this.timeout(60_000);
  const NODES = 40;
  let a: TestHomeport;
  let b: TestHomeport;
  before(async () => {
    const env = { DATABASE_URL: await createTestDatabase() };
    a = await startTestHomeport({ env });
    // Instances of one site share the token secret (auth.secretFile), as they share the database.
    b = await startTestHomeport({ env: { ...env, HOMEPORT_AUTH__SECRETFILE: path.join(a.dataDir, 'secret') } });
  });
  after(async () => {
    await a?.stop();
    await b?.stop();
  });

  it(`${NODES} nodes, reports alternating between the instances: identical summaries with the counts sent`, async () => {
    expect(await a.tokenFor(loadMac(0))).to.equal(await b.tokenFor(loadMac(0)));
    const instances = [a, b];
    const post = async (i: number, k: number, urlPath: string, body: object) =>
      instances[(i + k) % 2]!.request('POST', urlPath, {
        body,
        headers: { 'x-homeport-token': await a.tokenFor(loadMac(i)) },
      });
    for (let i = 0; i < NODES; i++)
      expect((await post(i, 0, '/api/nodes/register', { mac: loadMac(i), hostname: `node${i}` })).status).to.be.oneOf([
        200, 201,
      ]);
    // Node i stops after its (i % LOAD_REPORTS.length)-th report, so the phases spread over the catalogue.
    const expected: Record<string, number> = {};
    await Promise.all(
      Array.from({ length: NODES }, async (_, i) => {
        const reports = LOAD_REPORTS.slice(0, 1 + (i % LOAD_REPORTS.length));
        for (const [k, [phase, status]] of reports.entries()) {
          const answer = await post(i, k, '/api/status/phase', { mac: loadMac(i), phase, status });
          expect(answer.status, answer.text).to.equal(200);
        }
        const last = reports.at(-1)![0];
        expected[last] = (expected[last] ?? 0) + 1;
      }),
    );
    const [fromA, fromB] = await Promise.all([
      a.request('GET', '/api/status/summary', { admin: true }),
      b.request('GET', '/api/status/summary', { admin: true }),
    ]);
    expect(fromA.status).to.equal(200);
    expect(fromA.body).to.deep.equal(fromB.body);
    expect(fromA.body.total_nodes).to.equal(NODES);
    expect(fromA.body.by_phase).to.deep.equal(expected);
    expect(await phaseStoreViolations(a.homeport.db.knex)).to.deep.equal([]);
  });
});
