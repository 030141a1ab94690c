import { expect } from 'chai';
import { isRepeatedBootFetch, BOOT_FETCH_WINDOW_MS } from '../../server/boot/service.js';
import { NodeCache } from '../../server/nodes/node-cache.js';
import { buildCatalogue } from '../../server/nodes/phases.js';
import { NodesService } from '../../server/nodes/service.js';
import { openDatabase, type Database } from '../../server/store/db.js';
import { createRepositories } from '../../server/store/repositories.js';
import { freshDatabase } from '../helpers/databases.js';
import { TEST_ROUNDS } from '../helpers/reprovisioning.js';
import { node } from '../monitoring/fixtures.js';

describe('node cache (boot-path reads by MAC)', () => {
  describe('the cache alone', () => {
    it('answers within its TTL, forgets after it, and holds nothing with a TTL of 0', () => {
      const cache = new NodeCache(1000);
      const pve1 = node(1, { mac: '52:54:00:00:00:01' });
      cache.put(pve1, 10_000);
      expect(cache.get(pve1.mac, 10_999)).to.equal(pve1);
      expect(cache.get(pve1.mac, 11_000), 'at the TTL').to.equal(undefined);
      const off = new NodeCache(0);
      off.put(pve1, 0);
      expect(off.get(pve1.mac, 0)).to.equal(undefined);
    });

    it('keeps its object when a row read after the TTL is unchanged, and takes the new one when it changed', () => {
      const cache = new NodeCache(1000);
      const kept = node(1, { mac: '52:54:00:00:00:01', hostname: 'pve1' });
      cache.put(kept, 0);
      expect(cache.refresh({ ...kept }, 5000), 'same row').to.equal(kept);
      expect(cache.get(kept.mac, 5500), 'and it is fresh again').to.equal(kept);
      const renamed = { ...kept, hostname: 'pve1-renamed' };
      expect(cache.refresh(renamed, 9000)).to.equal(renamed);
    });

    it('keeps at most maxNodes, forgetting the least recently used', () => {
      const cache = new NodeCache(60_000, 2);
      const [a, b, c] = [1, 2, 3].map((id) => node(id, { mac: `52:54:00:00:00:0${id}` }));
      cache.put(a!, 0);
      cache.put(b!, 0);
      cache.get(a!.mac, 1);
      cache.put(c!, 1);
      expect([a, b, c].map((n) => cache.get(n!.mac, 2)?.id)).to.deep.equal([1, undefined, 3]);
    });
  });

  describe('two instances on one database (one SQLite file)', () => {
    let db: Database & { sqlitePath: string };
    let second: Database;
    let now = 1_000_000;
    const clock = () => now;
    let a: NodesService;
    let b: NodesService;
    const MAC = '52:54:00:aa:00:01';

    beforeEach(async () => {
      db = await freshDatabase('sqlite');
      second = openDatabase({ sqlitePath: db.sqlitePath, synchronous: 'FULL', busyTimeoutMs: 5000 });
      a = new NodesService(createRepositories(db), buildCatalogue(), clock, { rounds: TEST_ROUNDS, cacheMs: 1000 });
      b = new NodesService(createRepositories(second), buildCatalogue(), clock, { rounds: TEST_ROUNDS, cacheMs: 1000 });
    });
    afterEach(async () => {
      await second?.close();
      await db?.close();
    });

    it("sees its own writes at once: every write passes through the one writer's cache", async () => {
      const created = await a.create(MAC, { hostname: 'pve1' });
      expect((await a.byMac(MAC))?.hostname).to.equal('pve1');
      await a.update(created.id, { hostname: 'pve1-renamed' });
      expect((await a.byMac(MAC))?.hostname, 'update').to.equal('pve1-renamed');
      await a.reportPhase({ mac: MAC }, { phase: 'installation', status: 'in_progress', source: 'admin' });
      expect((await a.byMac(MAC))?.deploymentStatus, 'phase report').to.equal('installation');
      await a.delete(created.id);
      expect(await a.byMac(MAC), 'delete').to.equal(null);
    });

    it("sees another instance's write once the TTL has passed, not before", async () => {
      const created = await a.create(MAC, { hostname: 'pve1' });
      expect((await a.byMac(MAC))?.hostname).to.equal('pve1');
      await b.update(created.id, { hostname: 'changed-elsewhere' });
      expect((await a.byMac(MAC))?.hostname, 'within the TTL').to.equal('pve1');
      now += 1000;
      expect((await a.byMac(MAC))?.hostname, 'after the TTL').to.equal('changed-elsewhere');
    });

    it('with database.nodeCacheMs 0 reads every time', async () => {
      const uncached = new NodesService(createRepositories(db), buildCatalogue(), clock, { rounds: TEST_ROUNDS });
      const created = await uncached.create(MAC, { hostname: 'pve1' });
      await uncached.byMac(MAC);
      await b.update(created.id, { hostname: 'changed-elsewhere' });
      expect((await uncached.byMac(MAC))?.hostname).to.equal('changed-elsewhere');
    });
  });
});

describe('ipxe_boot: one history row per boot attempt, not per script fetch', () => {
  const at = (phase: string, status: 'completed' | 'in_progress' | 'failed', lastUpdate: number) =>
    ({ deploymentStatus: phase, deploymentPhaseStatus: status, lastUpdate }) as const;
  const now = 10_000_000;
  const cases: [string, ReturnType<typeof at>, boolean][] = [
    ['fetched again at once, nothing reported since: the same attempt', at('ipxe_boot', 'completed', now - 1000), true],
    ['fetched again just inside the window', at('ipxe_boot', 'completed', now - BOOT_FETCH_WINDOW_MS + 1), true],
    ['fetched again after the window: a new attempt', at('ipxe_boot', 'completed', now - BOOT_FETCH_WINDOW_MS), false],
    ['the installer reported since: a reboot', at('installation', 'in_progress', now - 1000), false],
    ['a deployed node netbooting again', at('deployed', 'completed', now - 1000), false],
    ['a first boot', at('pending', 'completed', now - 1000), false],
  ];
  for (const [name, state, repeated] of cases)
    it(`${name}: ${repeated ? 'no new row' : 'recorded'}`, () =>
      expect(isRepeatedBootFetch(state, now)).to.equal(repeated));
});
