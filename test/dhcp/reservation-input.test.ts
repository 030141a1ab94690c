import { createRepositories } from '../../server/store/repositories.js';
/**
 * In full DHCP mode a node's ip is its reservation, so the node writes that
 * set it (admin create/edit, import) refuse at input what DHCP could not hand
 * out, with the reason; other modes store any address. A phone-home register's
 * ip is only stored as reported_ip (never a reservation), so it is not refused.
 */
import { expect } from 'chai';
import { reservationProblem } from '../../server/dhcp/reservations.js';
import { toHttpError } from '../../server/http/errors.js';
import { buildCatalogue } from '../../server/nodes/phases.js';
import { InvalidNodeIpError, NodesService } from '../../server/nodes/service.js';
import { freshDatabase } from '../helpers/databases.js';
import { TEST_ROUNDS } from '../helpers/reprovisioning.js';

const dhcp = {
  serverIp: '10.77.1.1',
  pool: { start: '10.77.1.100', subnetMask: '255.255.255.0', router: '10.77.1.254' },
};

describe('node ip refused at input in full DHCP mode', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let full: NodesService;
  let proxy: NodesService;

  beforeEach(async () => {
    db = await freshDatabase('sqlite');
    full = new NodesService(createRepositories(db), buildCatalogue(), Date.now, {
      rounds: TEST_ROUNDS,
      ipRule: (ip) => reservationProblem(ip, dhcp),
    });
    proxy = new NodesService(createRepositories(db), buildCatalogue(), Date.now, { rounds: TEST_ROUNDS });
  });
  afterEach(async () => {
    await db?.close();
  });

  const refused = async (write: () => Promise<unknown>, reason: RegExp) => {
    const err = await write().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(InvalidNodeIpError);
    const http = toHttpError(err);
    expect(http.status).to.equal(400);
    expect(http.message).to.match(reason);
  };

  it('create and update: 400 naming the reason; a good address is stored', async () => {
    await refused(() => full.create('02:00:00:00:00:01', { ip: '10.77.1.254' }), /ip: 10\.77\.1\.254 is the router/);
    await refused(() => full.create('02:00:00:00:00:02', { ip: '10.77.1.1' }), /homeport's own address/);
    const node = await full.create('02:00:00:00:00:03', { ip: '10.77.1.20' });
    await refused(() => full.update(node.id, { ip: '10.77.2.20' }), /not on the DHCP subnet/);
    await refused(() => full.update(node.id, { ip: 'fd00::20' }), /not an IPv4 address/);
    await refused(() => full.update(node.id, { ip: '10.77.1.255' }), /broadcast/);
    expect((await full.update(node.id, { ip: null }))?.ip, 'clearing the ip is fine').to.equal(null);
    expect(await full.byMac('02:00:00:00:00:01')).to.equal(null);
  });

  it('other modes store any address (a node may live on another network)', async () => {
    expect((await proxy.create('02:00:00:00:00:04', { ip: 'fd00::20' })).ip).to.equal('fd00::20');
  });
});
