/**
 * Attacker tests on the boot network (DESIGN.md, trust model), in namespaces
 * this test creates: a DISCOVER flood from random MACs must not lock real
 * clients out of a small pool, and a reservation that another MAC holds must
 * give its node a pool address and a warning naming both, never silence.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import {
  dhclient,
  leaseStates,
  probeHost,
  startDhcpRunner,
  udhcpc,
  withStore,
  type DhcpRunner,
} from '../helpers/dhcp-lab.js';
import type { FloodResult } from '../helpers/dhcp-flood.js';
import { createLab, sleep, type Lab } from '../helpers/netns.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const FLOOD = path.join(REPO, 'test/helpers/dhcp-flood.ts');

describe('dhcp full mode against an attacker on the boot network', function () {
  this.timeout(180_000);
  const subnet = '10.77.42';
  const serverIp = `${subnet}.1`;
  const inPool = /^10\.77\.42\.(1[0-4]\d|150)$/;
  let lab: Lab;
  let dir: string;
  let homeport: DhcpRunner | undefined;
  let config: Record<string, unknown>;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-dhcp-flood-'));
    lab = await createLab({ subnet });
    config = {
      mode: 'full',
      interface: 'br0',
      serverIp,
      httpBaseUrl: `http://${serverIp}:8080`,
      sqlitePath: path.join(dir, 'homeport.sqlite'),
      // 51 addresses, as in the issue; warn level: 10,000 debug lines would only fill memory.
      pool: {
        start: `${subnet}.100`,
        end: `${subnet}.150`,
        subnetMask: '255.255.255.0',
        router: serverIp,
        leaseSeconds: 600,
      },
      logLevel: 'warn',
    };
    homeport = await startDhcpRunner(lab, config);
  });

  after(async () => {
    await homeport?.stop();
    await lab?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('10,000 DISCOVERs from random MACs at 1,000/s: real clients still get leases during the flood', async () => {
    const attacker = await probeHost(lab, 'flood', `${subnet}.60`);
    const spec = { count: 10_000, perSecond: 1000, maxMs: 30_000 };
    const flooding = lab.exec(attacker.ns, process.execPath, ['--import', 'tsx', FLOOD, JSON.stringify(spec)], {
      timeoutMs: 60_000,
    });
    await sleep(2500); // well into the flood: every address is held by an offer by now
    const busybox = await lab.addHost('udhcpc', { mac: '02:00:00:42:00:01' });
    const isc = await lab.addHost('dhclient', { mac: '02:00:00:42:00:02' });
    const [env, lease] = await Promise.all([udhcpc(lab, busybox, dir, []), dhclient(lab, isc, dir, [])]);
    const run = await flooding;
    expect(run.code, run.stderr).to.equal(0);
    const flood = JSON.parse(run.stdout.trim()) as FloodResult;
    console.log(
      `      flood: ${flood.sent} DISCOVERs in ${flood.ms} ms, ${flood.offers} OFFERs over ${flood.addresses} addresses; udhcpc got ${env.ip}, dhclient got ${lease.address}`,
    );

    expect(flood.sent).to.equal(10_000);
    expect(env.ip).to.match(inPool);
    expect(lease.address).to.match(inPool);
    expect(lease.address).to.not.equal(env.ip);
    const states = await leaseStates(config.sqlitePath as string);
    expect(states.get(busybox.mac)).to.deep.equal({ ip: env.ip, state: 'bound' });
    expect(states.get(isc.mac)).to.deep.equal({ ip: lease.address, state: 'bound' });
    expect(
      [...states.values()].filter((s) => s.state === 'offered').length,
      'offers never exceed the pool',
    ).to.be.at.most(51);
    expect(homeport!.child.exitCode).to.equal(null);
  });

  it('a reserved node whose address another MAC holds gets a pool address and a warning naming both MACs', async () => {
    const squatter = await lab.addHost('squatter', { mac: '02:00:00:42:00:10' });
    const squatted = (await udhcpc(lab, squatter, dir, [])).ip!;
    const reserved = await lab.addHost('reserved', { mac: '02:00:00:42:00:11' });
    await withStore(config.sqlitePath as string, async (knex) => {
      const now = Date.now();
      await knex('nodes').insert({
        mac: reserved.mac,
        ip: squatted,
        hostname: 'pve-collides',
        registered_at: now,
        last_update: now,
      });
    });
    // Reservations are read at start and every 10 s: a restart reads it now.
    await homeport!.stop();
    homeport = await startDhcpRunner(lab, config);
    const env = await udhcpc(lab, reserved, dir, []);
    expect(env.ip).to.match(inPool);
    expect(env.ip).to.not.equal(squatted);
    const warning = homeport.logs().find((l) => l.msg.includes('is leased to'));
    expect(warning?.msg).to.contain(reserved.mac).and.to.contain(squatter.mac).and.to.contain(squatted);
  });
});
