import { expect } from 'chai';
import { expireDiscoveries } from '../../server/boot/discovery.js';
import type { Database } from '../../server/store/db.js';
import { DiscoveriesRepo } from '../../server/store/discoveries-repo.js';
import { HostKeysRepo, type HostKey } from '../../server/store/host-keys.js';
import { keyFingerprint } from '../../server/ssh/host-keys.js';
import { DATABASE_KINDS, freshDatabase } from '../helpers/databases.js';

const KEY_A = { type: 'ssh-ed25519', key: 'AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
const KEY_B = { type: 'ssh-ed25519', key: 'AAAAC3NzaC1lZDI1NTE5AAAAIAEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB' };
const HOUR = 3600_000;
/** Keys as the register route hands them to the store: with their fingerprints. */
const fingerprinted = (keys: HostKey[]) => keys.map((k) => ({ ...k, fingerprint: keyFingerprint(k) }));

/** The pinned-key store and the discovery queries on both databases (migration 005). */
for (const kind of DATABASE_KINDS) {
  describe(`host keys and discovery store on ${kind}`, function () {
    this.timeout(30_000);
    let db: Database;
    let hostKeys: HostKeysRepo;
    beforeEach(async () => {
      db = await freshDatabase(kind);
      hostKeys = new HostKeysRepo(db.knex);
    });
    afterEach(async () => db.close());

    const addNode = async (mac: string, fields: Record<string, unknown> = {}) => {
      const [row] = await db
        .knex('nodes')
        .insert({ mac, labels: '{}', status: 'registered', registered_at: 0, last_update: 0, ...fields })
        .returning('id');
      return Number((row as { id: number }).id ?? row);
    };

    it('pins keys per round: the first keys of a round stay, a new round replaces them; deleting the node deletes them', async () => {
      const id = await addNode('52:54:00:00:05:01', { ip: '10.0.5.1', hostname: 'pve1' });
      expect(await hostKeys.save(id, fingerprinted([KEY_A]), 'r1', 1)).to.equal('pinned');
      expect(await hostKeys.save(id, fingerprinted([KEY_A, KEY_A]), 'r1', 2)).to.equal('unchanged');
      expect(await hostKeys.save(id, fingerprinted([KEY_B]), 'r1', 3)).to.equal('kept');
      expect(await hostKeys.forNode(id)).to.deep.equal([KEY_A]);
      expect(await hostKeys.pinnedHostAt('10.0.5.1')).to.deep.equal({
        kind: 'node',
        node: `node ${id} (pve1, 52:54:00:00:05:01)`,
        keys: [KEY_A],
      });
      expect(await hostKeys.save(id, fingerprinted([KEY_B]), 'r2', 4)).to.equal('pinned');
      expect(await hostKeys.forNode(id)).to.deep.equal([KEY_B]);
      expect(await hostKeys.clear(id)).to.equal(1);
      await hostKeys.save(id, fingerprinted([KEY_A]), 'r3', 5);
      await db.knex('nodes').where({ id }).delete();
      expect(Number((await db.knex('node_host_keys').count({ n: '*' }).first())!.n), 'cascaded').to.equal(0);
    });

    it('finds a node by the address homeport saw when no admin set one; lists reachable nodes with no pinned key', async () => {
      const seen = await addNode('52:54:00:00:05:10', { observed_ip: '10.0.5.10', hostname: 'seen' });
      await addNode('52:54:00:00:05:11', { ip: '10.0.5.11', observed_ip: '10.0.5.10', hostname: 'admin-set' });
      await addNode('52:54:00:00:05:12', { hostname: 'no-address' });
      expect(await hostKeys.pinnedHostAt('10.0.5.10'), "an admin's ip wins over a seen address").to.deep.equal({
        kind: 'node',
        node: `node ${seen} (seen, 52:54:00:00:05:10)`,
        keys: [],
      });
      expect(await hostKeys.unpinnedNodes()).to.deep.equal({ total: 2, names: ['seen', 'admin-set'] });
      await hostKeys.save(seen, fingerprinted([KEY_A]), 'r1', 1);
      expect(await hostKeys.unpinnedNodes()).to.deep.equal({ total: 1, names: ['admin-set'] });
    });

    it('an address held by two nodes is ambiguous, an unknown one is none', async () => {
      await addNode('52:54:00:00:05:02', { ip: '10.0.5.2' });
      await addNode('52:54:00:00:05:03', { ip: '10.0.5.2' });
      expect((await hostKeys.pinnedHostAt('10.0.5.2')).kind).to.equal('ambiguous');
      expect(await hostKeys.pinnedHostAt('10.0.5.9')).to.deep.equal({ kind: 'none' });
    });

    it('counts and expires only open discoveries that never phoned home', async () => {
      const stale = await addNode('52:54:00:00:05:10', { status: 'discovered', registered_at: 0 });
      await addNode('52:54:00:00:05:11', { status: 'discovered', registered_at: 0, profile: 'debian' });
      const phoned = await addNode('52:54:00:00:05:12', { status: 'discovered', registered_at: 0 });
      await db
        .knex('deployment_history')
        .insert({ node_id: phoned, phase: 'installation', status: 'in_progress', source: 'installer', at: 1 });
      await addNode('52:54:00:00:05:13', { status: 'discovered', registered_at: 30 * HOUR });
      const discoveries = new DiscoveriesRepo(db.knex);
      expect(await discoveries.countOpen()).to.equal(3);
      expect(await expireDiscoveries(discoveries, 25 * HOUR, 24)).to.deep.equal([stale]);
      expect(await discoveries.countOpen()).to.equal(2);
    });
  });
}
