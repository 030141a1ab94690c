import { expect } from 'chai';
import crypto from 'node:crypto';
import { Agent, request } from 'undici';
import { discoveryVerdict, expireDiscoveries } from '../../server/boot/discovery.js';
import { DiscoverCoalescer } from '../../server/nodes/coalesce.js';
import { DiscoveriesRepo } from '../../server/store/discoveries-repo.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';

const randomMac = () => [0x02, ...crypto.randomBytes(5)].map((b) => b.toString(16).padStart(2, '0')).join('-');

/** Snapshot of every node row and history row, to prove an attack changed nothing. */
async function snapshot(hp: TestHomeport): Promise<string> {
  const knex = hp.homeport.db.knex;
  return JSON.stringify([
    await knex('nodes').orderBy('id').select(),
    await knex('deployment_history').orderBy('id').select(),
  ]);
}

describe('bounded discovery (boot.discoverLimit, boot.discoverTtlHours)', function () {
  this.timeout(240_000);
  let hp: TestHomeport;
  afterEach(async () => hp?.stop());

  it('pure: admits below the limit, refuses at it with the reason', () => {
    expect(discoveryVerdict(999, 1000)).to.deep.equal({ admit: true });
    const full = discoveryVerdict(1000, 1000);
    expect(full.admit).to.equal(false);
    expect(!full.admit && full.reason).to.match(/boot\.discoverLimit 1000/);
  });

  it('an attacker asking for 20,000 random MACs over real HTTP leaves the node rows at the cap; past it nothing is written', async () => {
    hp = await startTestHomeport();
    const limit = 1000; // boot.discoverLimit's default
    const agent = new Agent({ connections: 16, pipelining: 1, keepAliveTimeout: 30_000 });
    const total = 20_000;
    const concurrency = 16;
    const deadline = Date.now() + 200_000;
    let next = 0;
    let refused = 0;
    let lastRefusal = '';
    const worker = async () => {
      while (next < total && Date.now() < deadline) {
        next++;
        // Keep-alive connections (16, one request in flight each): the attack costs the server no handshakes.
        const response = await request(`${hp.baseUrl}/boot/${randomMac()}.ipxe`, { dispatcher: agent });
        const text = await response.body.text();
        expect(response.statusCode).to.equal(200);
        if (text.includes('boot.discoverLimit')) {
          refused++;
          lastRefusal = text;
        }
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: concurrency }, worker));
    await agent.close();
    expect(next, `all requests sent within the time bound (${Date.now() - started} ms)`).to.equal(total);
    const count = Number((await hp.homeport.db.knex('nodes').count({ n: '*' }).first())!.n);
    expect(count).to.equal(limit);
    expect(refused).to.equal(total - limit);
    expect(lastRefusal)
      .to.match(/^#!ipxe\n/)
      .and.contain('waits')
      .and.match(/exit 1\n?$/);
    // A known machine still boots as before.
    const before = await snapshot(hp);
    const again = await fetch(`${hp.baseUrl}/boot/${randomMac()}.ipxe`);
    expect(await again.text()).to.contain('boot.discoverLimit');
    expect(await snapshot(hp), 'the refused machine changed no row').to.equal(before);
  });

  it('discoveries that never phoned home expire after the TTL; adopted and phoning-home ones stay', async () => {
    hp = await startTestHomeport();
    const [stale, adopted, phoned] = [randomMac(), randomMac(), randomMac()];
    for (const mac of [stale, adopted, phoned]) await fetch(`${hp.baseUrl}/boot/${mac}.ipxe`).then((r) => r.text());
    const colon = (mac: string) => mac.replace(/-/g, ':');
    expect(
      (await hp.request('PATCH', `/api/nodes/${colon(adopted)}`, { admin: true, body: { profile: 'debian' } })).status,
    ).to.equal(200);
    const report = await hp.request('POST', '/api/status/phase', {
      body: { mac: colon(phoned), phase: 'installation', token: await hp.tokenFor(colon(phoned)) },
    });
    expect(report.status).to.equal(200);
    const knex = hp.homeport.db.knex;
    const discoveries = new DiscoveriesRepo(knex);
    expect(await expireDiscoveries(discoveries, Date.now(), 24), 'not yet').to.deep.equal([]);
    const expired = await expireDiscoveries(discoveries, Date.now() + 25 * 3600_000, 24);
    expect(expired).to.have.length(1);
    const left = (await knex('nodes').orderBy('id').select('mac')).map((r: { mac: string }) => r.mac);
    expect(left).to.deep.equal([colon(adopted), colon(phoned)]);
    expect(await knex('deployment_history').where('node_id', expired[0]).count({ n: '*' }).first()).to.deep.equal({
      n: 0,
    });
  });

  it("pure: a known MAC's repeated DISCOVERs make one row per boot attempt", () => {
    const coalescer = new DiscoverCoalescer(300_000, 3);
    const mac = '52:54:00:00:00:01';
    // A PXE ROM's retries at 0, 4, 12, 28 s and iPXE after chain-loading: one row.
    expect([0, 4_000, 12_000, 28_000, 35_000].map((t) => coalescer.shouldRecord(mac, t))).to.deep.equal([
      true,
      false,
      false,
      false,
      false,
    ]);
    coalescer.reset(mac); // the iPXE script was served: the next DISCOVER is another boot
    expect(coalescer.shouldRecord(mac, 60_000)).to.equal(true);
    expect(coalescer.shouldRecord(mac, 61_000)).to.equal(false);
    expect(coalescer.shouldRecord(mac, 360_000), 'a machine stuck in a DHCP loop shows up once per window').to.equal(
      true,
    );
  });
});
