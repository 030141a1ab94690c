import { expect } from 'chai';
import { openDatabase, pendingMigrations, type Database } from '../../server/store/db.js';
import { HistoryRepo } from '../../server/store/history-repo.js';
import { JobsRepo } from '../../server/store/jobs-repo.js';
import { NodesRepo } from '../../server/store/nodes-repo.js';
import { DATABASE_KINDS, freshDatabase } from '../helpers/databases.js';

for (const kind of DATABASE_KINDS) {
  describe(`store on ${kind}`, function () {
    this.timeout(30_000);
    let db: Awaited<ReturnType<typeof freshDatabase>>;
    let nodes: NodesRepo;

    beforeEach(async () => {
      db = await freshDatabase(kind);
      nodes = new NodesRepo(db.knex);
    });
    afterEach(async () => db.close());

    it('is fully migrated and migrating again changes nothing', async () => {
      expect(await pendingMigrations(db.knex)).to.deep.equal([]);
      for (const table of ['nodes', 'deployment_history', 'leases', 'clusters', 'jobs']) {
        expect(await db.knex.schema.hasTable(table), table).to.equal(true);
      }
    });

    it('inserts, finds, updates and deletes a node', async () => {
      const created = await nodes.insert(
        'aa:bb:cc:00:00:01',
        { hostname: 'pve1', ip: '10.0.0.11', labels: { rack: 'r1' } },
        1000,
      );
      expect(created).to.include({
        mac: 'aa:bb:cc:00:00:01',
        hostname: 'pve1',
        deploymentStatus: 'pending',
        netbootEnabled: true,
        registeredAt: 1000,
      });
      expect(created.labels).to.deep.equal({ rack: 'r1' });
      expect((await nodes.byMac('aa:bb:cc:00:00:01'))?.id).to.equal(created.id);
      expect((await nodes.byIp('10.0.0.11'))?.id).to.equal(created.id);
      const updated = await nodes.update(created.id, {
        netbootEnabled: false,
        reprovisionStatus: 'in_progress',
        lastUpdate: 2000,
      });
      expect(updated).to.include({ netbootEnabled: false, reprovisionStatus: 'in_progress', lastUpdate: 2000 });
      expect(await nodes.delete(created.id)).to.equal(true);
      expect(await nodes.byId(created.id)).to.equal(null);
    });

    it('refuses a second node with the same MAC', async () => {
      await nodes.insert('aa:bb:cc:00:00:02', {}, 1);
      let error: unknown;
      try {
        await nodes.insert('aa:bb:cc:00:00:02', {}, 2);
      } catch (err) {
        error = err;
      }
      expect(String(error)).to.match(/unique|duplicate/i);
      expect(await nodes.list()).to.have.length(1);
    });

    it("deletes a node's history with it (foreign key cascade)", async () => {
      const history = new HistoryRepo(db.knex);
      const node = await nodes.insert('aa:bb:cc:00:00:03', {}, 1);
      await history.append({
        nodeId: node.id,
        phase: 'ipxe_boot',
        status: 'completed',
        message: null,
        progress: null,
        source: 'server',
        sourceIp: null,
        applied: true,
        at: 5,
      });
      expect(await history.count()).to.equal(1);
      await nodes.delete(node.id);
      expect(await history.count()).to.equal(0);
    });

    it('pages history newest or oldest first', async () => {
      const history = new HistoryRepo(db.knex);
      const node = await nodes.insert('aa:bb:cc:00:00:04', {}, 1);
      for (const [i, phase] of ['ipxe_boot', 'config_download', 'installation'].entries()) {
        await history.append({
          nodeId: node.id,
          phase,
          status: 'completed',
          message: null,
          progress: null,
          source: 'installer',
          sourceIp: '10.0.0.4',
          applied: true,
          at: 10 + i,
        });
      }
      const newest = await history.page(node.id, { order: 'desc', limit: 2, offset: 0 });
      expect(newest.total).to.equal(3);
      expect(newest.entries.map((e) => e.phase)).to.deep.equal(['installation', 'config_download']);
      const oldest = await history.page(node.id, { order: 'asc', limit: 2, offset: 2 });
      expect(oldest.entries.map((e) => e.phase)).to.deep.equal(['installation']);
    });

    describe('jobs', () => {
      it('claims due jobs oldest first and not before run_at', async () => {
        const jobs = new JobsRepo(db.knex);
        await jobs.enqueue({ type: 'later', runAt: 500 }, 100);
        const { job: first } = await jobs.enqueue({ type: 'now' }, 100);
        expect((await jobs.claim('w1', 200, 1000))?.id).to.equal(first.id);
        expect(await jobs.claim('w1', 200, 1000)).to.equal(null);
        expect((await jobs.claim('w1', 600, 1000))?.type).to.equal('later');
      });

      it('enqueues a job with a dedupe key once', async () => {
        const jobs = new JobsRepo(db.knex);
        const a = await jobs.enqueue({ type: 'form_cluster', dedupeKey: 'form_cluster:c1:1' }, 1);
        const b = await jobs.enqueue({ type: 'form_cluster', dedupeKey: 'form_cluster:c1:1' }, 2);
        expect(a.created).to.equal(true);
        expect(b.created).to.equal(false);
        expect(b.job.id).to.equal(a.job.id);
        expect(await jobs.list()).to.have.length(1);
      });

      it('lets exactly one of two racing claimers win each job', async () => {
        const jobCount = 40;
        const setup = new JobsRepo(db.knex);
        for (let i = 0; i < jobCount; i++) await setup.enqueue({ type: 'race', params: { i } }, 1);
        // Two separate connections (pools), as two homeport instances would have.
        const other: Database = openDatabase({
          url: db.url,
          sqlitePath: db.sqlitePath,
          synchronous: 'FULL',
          busyTimeoutMs: 5000,
        });
        try {
          const claimers = [new JobsRepo(db.knex), new JobsRepo(other.knex)];
          const won = await Promise.all(
            claimers.map(async (repo, w) => {
              const ids: number[] = [];
              for (let attempt = 0; attempt < jobCount * 2; attempt++) {
                const job = await repo.claim(`w${w}`, 10, 60_000);
                if (!job) break;
                ids.push(job.id);
              }
              return ids;
            }),
          );
          const all = won.flat();
          expect(all).to.have.length(jobCount);
          expect(new Set(all).size).to.equal(jobCount);
          const rows = await setup.list({ limit: 100 });
          expect(rows.every((j) => j.status === 'running' && j.attempts === 1)).to.equal(true);
        } finally {
          await other.close();
        }
      });

      it('reclaims a job whose claimer died once its lease runs out', async () => {
        const jobs = new JobsRepo(db.knex);
        const { job } = await jobs.enqueue({ type: 'power' }, 1);
        expect((await jobs.claim('dead-worker', 10, 1000))?.id).to.equal(job.id);
        expect(await jobs.claim('w2', 500, 1000), 'lease still valid').to.equal(null);
        const reclaimed = await jobs.claim('w2', 1011, 1000);
        expect(reclaimed).to.include({ id: job.id, claimedBy: 'w2', attempts: 2 });
        expect(await jobs.finish(job.id, 'dead-worker', 1100, { status: 'completed' }), 'old claimer lost it').to.equal(
          false,
        );
        expect(await jobs.finish(job.id, 'w2', 1100, { status: 'completed', result: { ok: true } })).to.equal(true);
        expect(await jobs.byId(job.id)).to.deep.include({ status: 'completed', result: { ok: true } });
      });
    });

    if (kind === 'sqlite') {
      it('runs SQLite in WAL mode with foreign keys, synchronous FULL and a busy timeout', async () => {
        const pragma = async (name: string) =>
          Object.values(((await db.knex.raw(`PRAGMA ${name}`)) as Record<string, unknown>[])[0]!)[0];
        expect(await pragma('journal_mode')).to.equal('wal');
        expect(await pragma('foreign_keys')).to.equal(1);
        expect(await pragma('synchronous')).to.equal(2); // FULL
        expect(await pragma('busy_timeout')).to.equal(5000);
      });
    }
  });
}
