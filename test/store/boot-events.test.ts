import { expect } from 'chai';
import { BootEventsRepo, type NewBootEvent } from '../../server/store/boot-events-repo.js';
import type { Database } from '../../server/store/db.js';
import { DATABASE_KINDS, freshDatabase } from '../helpers/databases.js';

const DAY = 86_400_000;
const keepAll = { maxPerMac: 1000, olderThan: 0, seenLimit: 1000 };
const event = (mac: string, at: number, kind = 'DISCOVER'): NewBootEvent => ({
  mac,
  at,
  source: 'dhcp',
  kind,
  outcome: 'offer',
  detail: { arch: 7, vendorClass: 'PXEClient' },
});
const unknownMac = (i: number) =>
  `02:00:00:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

/** boot_events (migration 006) on both databases: node ids, retention per MAC and by age, the bounded seen list. */
for (const kind of DATABASE_KINDS) {
  describe(`boot events store on ${kind}`, function () {
    this.timeout(30_000);
    let db: Database;
    let repo: BootEventsRepo;
    beforeEach(async () => {
      db = await freshDatabase(kind);
      repo = new BootEventsRepo(db.knex);
    });
    afterEach(async () => db.close());

    const addNode = async (mac: string) => {
      const [row] = await db
        .knex('nodes')
        .insert({ mac, labels: '{}', status: 'registered', registered_at: 0, last_update: 0 })
        .returning('id');
      return Number((row as { id: number }).id ?? row);
    };

    it('stores events with their detail and the node they belong to; unknown MACs get none', async () => {
      const id = await addNode('52:54:00:00:06:01');
      await repo.insertBatch([event('52:54:00:00:06:01', 1), event('02:00:00:00:00:01', 2)], keepAll);
      const [known] = await repo.forMac('52:54:00:00:06:01', 10);
      expect(known).to.include({ nodeId: id, mac: '52:54:00:00:06:01', at: 1, source: 'dhcp', kind: 'DISCOVER' });
      expect(known!.detail).to.deep.equal({ arch: 7, vendorClass: 'PXEClient' });
      expect((await repo.forMac('02:00:00:00:00:01', 10))[0]!.nodeId).to.equal(null);
    });

    it('keeps the last maxPerMac events of a MAC, and none older than the age limit', async () => {
      await addNode('52:54:00:00:06:02');
      const batch = Array.from({ length: 12 }, (_, i) => event('52:54:00:00:06:02', 10 * DAY + i, `K${i}`));
      await repo.insertBatch(batch, { ...keepAll, maxPerMac: 5 });
      expect((await repo.forMac('52:54:00:00:06:02', 100)).map((e) => e.kind)).to.deep.equal([
        'K7',
        'K8',
        'K9',
        'K10',
        'K11',
      ]);
      await repo.insertBatch([event('52:54:00:00:06:02', 20 * DAY, 'NEW')], { ...keepAll, olderThan: 15 * DAY });
      expect((await repo.forMac('52:54:00:00:06:02', 100)).map((e) => e.kind)).to.deep.equal(['NEW']);
    });

    it('attack: a stranger inventing MACs fills only the seen list, oldest MACs evicted; nodes are never evicted', async () => {
      await addNode('52:54:00:00:06:03');
      await repo.insertBatch([event('52:54:00:00:06:03', 1)], keepAll);
      for (let round = 0; round < 5; round++) {
        const batch = Array.from({ length: 40 }, (_, i) => event(unknownMac(round * 40 + i), 100 + round * 40 + i));
        await repo.insertBatch(batch, { ...keepAll, seenLimit: 25 });
      }
      const seen = await repo.seen(1000);
      expect(seen).to.have.length(25);
      expect(seen[0]!.mac).to.equal(unknownMac(199)); // most recent first
      expect(seen.at(-1)!.mac).to.equal(unknownMac(175));
      expect(seen[0]!.last).to.include({ kind: 'DISCOVER', outcome: 'offer' });
      const rows = (await db.knex('boot_events').count({ n: '*' })) as { n: unknown }[];
      expect(Number(rows[0]!.n)).to.equal(26);
      expect(await repo.forMac('52:54:00:00:06:03', 10)).to.have.length(1);
    });

    it('a deleted node keeps its events as an unknown MAC', async () => {
      const id = await addNode('52:54:00:00:06:04');
      await repo.insertBatch([event('52:54:00:00:06:04', 1)], keepAll);
      await db.knex('nodes').where({ id }).delete();
      expect((await repo.seen(10)).map((s) => s.mac)).to.deep.equal(['52:54:00:00:06:04']);
    });
  });
}
