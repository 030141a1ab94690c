import { expect } from 'chai';
import pino from 'pino';
import { BootEventsRepo } from '../../server/store/boot-events-repo.js';
import type { Database } from '../../server/store/db.js';
import { BootEvents, COALESCE_MS } from '../../server/timeline/service.js';
import { captureLogger } from '../helpers/capture-log.js';
import { freshDatabase } from '../helpers/databases.js';

const MAC = '52:54:00:19:10:01';
const options = { maxEventsPerNode: 100, maxAgeDays: 30, seenLimit: 100 };

/** The one writer of boot_events, on a real SQLite database: coalescing, the bounded queue, failures that never throw. */
describe('BootEvents service', function () {
  this.timeout(20_000);
  let db: Database;
  let now: number;
  beforeEach(async () => {
    db = await freshDatabase('sqlite');
    now = 1_000_000;
  });
  afterEach(async () => db.close());
  const service = (extra: Partial<typeof options> & { maxPending?: number } = {}, log = pino({ level: 'silent' })) =>
    new BootEvents(new BootEventsRepo(db.knex), () => now, log, { ...options, ...extra });
  const discover = { mac: MAC, source: 'dhcp', kind: 'DISCOVER', outcome: 'offer', detail: { arch: 7 } } as const;

  it('writes a retransmitted event once, and again once the window has passed', async () => {
    const events = service();
    events.record(discover);
    now += COALESCE_MS - 1;
    events.record(discover);
    events.record({ ...discover, kind: 'REQUEST', outcome: 'ack' });
    now += COALESCE_MS + 1;
    events.record({ ...discover, kind: 'REQUEST', outcome: 'ack' });
    await events.flush();
    expect((await events.forMac(MAC)).map((e) => e.kind)).to.deep.equal(['DISCOVER', 'REQUEST', 'REQUEST']);
  });

  it('attack: a flood beyond maxPending is dropped, not queued without bound', async () => {
    const events = service({ maxPending: 3 });
    for (let i = 0; i < 50; i++)
      events.record({ ...discover, mac: `02:00:00:00:10:${i.toString(16).padStart(2, '0')}` });
    await events.flush();
    expect((await events.seen()).length).to.equal(3);
  });

  it('a database failure is logged, never thrown at the emitter', async () => {
    const { log, lines } = captureLogger();
    const events = service({}, log);
    await db.knex.schema.dropTable('boot_events');
    expect(() => events.record(discover)).to.not.throw();
    await events.flush();
    expect(lines().some((l) => l.msg === 'boot event not recorded')).to.equal(true);
  });
});
