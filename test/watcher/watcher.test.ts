import { expect } from 'chai';
import net from 'node:net';
import { openDatabase, type Database } from '../../server/store/db.js';
import { LeaderLease } from '../../server/store/leader-lease.js';
import { captureLogger } from '../helpers/capture-log.js';
import { DATABASE_KINDS, freshDatabase } from '../helpers/databases.js';
import { installNodeStubs } from '../helpers/node-stubs.js';
import { freePort } from '../helpers/ports.js';
import { reprovisioningHarness, type Harness } from '../helpers/reprovisioning.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';

const MIN = 60_000;
const T0 = Date.parse('2026-11-23T10:00:00Z');

describe('watcher: timeouts and readiness', function () {
  this.timeout(120_000);
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let sshd: TestSshd;
  let now: number;
  let h: Harness;
  before(async () => {
    sshd = await startTestSshd();
    installNodeStubs(sshd.binDir);
  });
  after(async () => sshd.dispose());
  beforeEach(async () => {
    now = T0;
    db = await freshDatabase('sqlite');
  });
  afterEach(async () => {
    await h.rp.stop();
    await db.close();
  });

  const harness = async (config: Record<string, unknown> = {}) =>
    (h = await reprovisioningHarness(db, {
      clock: () => now,
      log: captureLogger().log,
      sshd,
      config: { reprovision: { method: 'none' }, ...config },
    }));
  const history = async (id: number) =>
    (await h.nodes.historyPage(id, { order: 'asc', limit: 100, offset: 0 })).entries.map(
      (e) => `${e.source} ${e.phase} ${e.status}: ${e.message}`,
    );

  it('marks a node timeout only after its timeout, using the injected clock', async () => {
    await harness();
    const slow = await h.nodes.create('52:54:00:dd:00:01', { hostname: 'slow', ip: '127.0.0.2' });
    const quick = await h.nodes.create('52:54:00:dd:00:02', { hostname: 'quick', ip: '127.0.0.3' });
    await h.rp.reprovision.start({ refs: ['slow'] });
    await h.rp.reprovision.start({ refs: ['quick'] }, 10);
    await h.nodes.reportPhase({ id: slow.id }, { phase: 'installation', status: 'in_progress', source: 'installer' });

    now = T0 + 11 * MIN;
    expect((await h.rp.watcher.tick()).timedOut).to.deep.equal([quick.id]);
    now = T0 + 45 * MIN;
    expect((await h.rp.watcher.tick()).timedOut, 'at exactly 45 min it is not late yet').to.deep.equal([]);
    now = T0 + 45 * MIN + 1;
    expect((await h.rp.watcher.tick()).timedOut).to.deep.equal([slow.id]);
    expect((await h.nodes.byId(slow.id))?.reprovisionStatus).to.equal('timeout');
    expect((await history(slow.id)).at(-1)).to.equal(
      'watcher reprovision failed: timeout: not installed within 45 min (last phase installation)',
    );
    expect((await history(quick.id)).at(-1)).to.equal(
      'watcher reprovision failed: timeout: not installed within 10 min (last phase pending)',
    );
    now += 60 * MIN;
    expect((await h.rp.watcher.tick()).timedOut, 'a timed-out node stays timed out, once').to.deep.equal([]);
  });

  it('completes an installed node only when SSH answers: not while sshd is down, then yes', async () => {
    await harness();
    const node = await h.nodes.create('52:54:00:dd:00:03', { hostname: 'pve1', ip: '127.0.0.2' });
    await h.rp.reprovision.start({ all: true });
    await h.nodes.reportPhase({ id: node.id }, { phase: 'deployed', status: 'completed', source: 'installer' });
    await sshd.stop();
    try {
      const down = await h.rp.watcher.tick();
      expect(down.completed).to.deep.equal([]);
      expect(down.notReady).to.have.length(1);
      expect(down.notReady[0]!.detail).to.match(/cannot connect \(ECONNREFUSED\)/);
      expect((await h.nodes.byId(node.id))?.reprovisionStatus).to.equal('in_progress');
    } finally {
      await sshd.start();
    }
    expect((await h.rp.watcher.tick()).completed).to.deep.equal([node.id]);
    expect((await h.nodes.byId(node.id))?.reprovisionStatus).to.equal('completed');
    expect((await history(node.id)).at(-1)).to.equal('watcher reprovision completed: ready: ssh ok');
  });

  it('completes a node of a cluster with readinessSsh off on its deployed report alone (sshd down)', async () => {
    await harness({ clusters: { lab: { driver: 'script', script: '/bin/true', readinessSsh: false } } });
    const node = await h.nodes.create('52:54:00:dd:00:06', { hostname: 'e2e1', ip: '127.0.0.2', cluster: 'lab' });
    await h.rp.reprovision.start({ all: true });
    await h.nodes.reportPhase({ id: node.id }, { phase: 'deployed', status: 'completed', source: 'installer' });
    await sshd.stop();
    try {
      expect((await h.rp.watcher.tick()).completed).to.deep.equal([node.id]);
      expect(await history(node.id)).to.include(
        'watcher reprovision completed: ready: installed (no readiness check configured)',
      );
    } finally {
      await sshd.start();
    }
  });

  it("also waits for the cluster driver's service port, and times out an installed node that never gets ready", async () => {
    const port = await freePort();
    await harness({ clusters: { lab: { driver: 'proxmox', readinessPorts: [port] } } });
    const node = await h.nodes.create('52:54:00:dd:00:04', { hostname: 'pve1', ip: '127.0.0.2', cluster: 'lab' });
    const other = await h.nodes.create('52:54:00:dd:00:05', { hostname: 'pve2', ip: '127.0.0.3', cluster: 'lab' });
    await h.rp.reprovision.start({ all: true });
    for (const id of [node.id, other.id])
      await h.nodes.reportPhase({ id }, { phase: 'deployed', status: 'completed', source: 'installer' });
    const closed = await h.rp.watcher.tick();
    expect(closed.notReady.map((n) => n.detail).sort(), 'checked in parallel').to.deep.equal([
      `127.0.0.2:${port}: cannot connect (ECONNREFUSED)`,
      `127.0.0.3:${port}: cannot connect (ECONNREFUSED)`,
    ]);
    // The "Proxmox API" comes up on pve1 only.
    const api = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => api.listen(port, '127.0.0.2', resolve));
    try {
      expect((await h.rp.watcher.tick()).completed).to.deep.equal([node.id]);
      now = T0 + 46 * MIN;
      const late = await h.rp.watcher.tick();
      expect(late.timedOut).to.deep.equal([other.id]);
      expect((await history(other.id)).at(-1)).to.match(
        /^watcher reprovision failed: timeout: installed but not ready \(127\.0\.0\.3:\d+: cannot connect/,
      );
      expect(late.queued, 'a cluster with a timed-out node is not formed').to.deep.equal([]);
    } finally {
      await new Promise((resolve) => api.close(resolve));
    }
  });
});

for (const kind of DATABASE_KINDS) {
  describe(`watcher leader lease on ${kind}`, function () {
    this.timeout(60_000);
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let second: Database;
    beforeEach(async () => {
      db = await freshDatabase(kind);
      second = openDatabase({ url: db.url, sqlitePath: db.sqlitePath, synchronous: 'FULL', busyTimeoutMs: 5000 });
    });
    afterEach(async () => {
      await second.close();
      await db.close();
    });

    it('lets one holder in, renews it, and hands over only after it expires or is released', async () => {
      const a = new LeaderLease(db.knex, 'watcher', 'a');
      const b = new LeaderLease(second.knex, 'watcher', 'b');
      expect(await a.acquire(1000, 500)).to.equal(true);
      expect(await b.acquire(1001, 500)).to.equal(false);
      expect(await a.acquire(1400, 500), 'renewal').to.equal(true);
      expect(await b.acquire(1899, 500), 'renewed until 1900').to.equal(false);
      expect(await b.acquire(1901, 500), 'expired: the crashed holder is replaced').to.equal(true);
      expect(await a.acquire(1902, 500)).to.equal(false);
      await b.release();
      expect(await a.acquire(1903, 500), 'released: no wait').to.equal(true);
      expect(await a.current()).to.deep.equal({ holder: 'a', expiresAt: 2403 });
    });

    it('exactly one of many racing instances takes a free lease', async () => {
      const leases = Array.from(
        { length: 8 },
        (_, i) => new LeaderLease(i % 2 ? second.knex : db.knex, 'race', `i${i}`),
      );
      const won = await Promise.all(leases.map((l) => l.acquire(5000, 1000)));
      expect(won.filter(Boolean)).to.have.length(1);
    });

    it("makes only the lease holder's watcher act; a crashed leader is replaced after the lease", async () => {
      let now = T0;
      const log = captureLogger().log;
      const config = { reprovision: { method: 'none' }, watcher: { leaseMs: 90_000 } };
      const a = await reprovisioningHarness(db, { clock: () => now, log, config, instanceId: 'a' });
      const b = await reprovisioningHarness(second, { clock: () => now, log, config, instanceId: 'b' });
      const node = await a.nodes.create('52:54:00:dd:01:01', { hostname: 'n1', ip: '127.0.0.2' });
      await a.rp.reprovision.start({ all: true });
      expect((await a.rp.watcher.tick()).leader).to.equal(true);
      expect((await b.rp.watcher.tick()).leader).to.equal(false);
      // a "crashes" (stops ticking without releasing); its node is overdue meanwhile.
      now = T0 + 46 * MIN;
      const takeover = await b.rp.watcher.tick();
      expect(takeover.leader).to.equal(true);
      expect(takeover.timedOut).to.deep.equal([node.id]);
      expect((await a.rp.watcher.tick()).leader, 'the old leader now follows').to.equal(false);
      // A clean stop hands the lease over at once.
      await b.rp.stop();
      expect((await a.rp.watcher.tick()).leader).to.equal(true);
      await a.rp.stop();
    });
  });
}
