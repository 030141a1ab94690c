/**
 * Real relays and clients against homeport, in namespaces this test makes
 * (DESIGN.md, safety): ISC `dhcrelay -a -D` routes between a server subnet
 * and a client subnet (-D drops replies whose option 82 does not match what
 * it sent, so a lease behind it proves the round trip); a node keeps its
 * reserved address whether it sends no client identifier (PXE firmware) or
 * a DUID (an installed OS); udhcpc, dhclient and dhcpcd renew at T1.
 *
 *   server lab 10.77.43.0/24: br0 .1 = homeport      client lab 10.77.44.0/24: br0 .1 = relay (giaddr)
 *        └── rly0 ─────── veth ─────── up0 10.77.43.2 (relay's upstream, in the client lab's switch namespace)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import {
  startDhcpRunner,
  udhcpc,
  withStore,
  writeUdhcpcScript,
  type DhcpRunner,
  type LogLine,
} from '../helpers/dhcp-lab.js';
import { createLab, runOk, sleep, type Lab } from '../helpers/netns.js';

const LEASE_SECONDS = 60; // the schema's minimum: T1 = 30 s
const RESERVED = { mac: '02:00:00:44:00:20', ip: '10.77.44.20' };
const DUID = 'ff000000010001000130a1b2c3020000004420'; // RFC 4361: IAID + DUID-LLT, as systemd-networkd sends

describe('dhcp through ISC dhcrelay and with real clients renewing', function () {
  this.timeout(180_000);
  let servers: Lab;
  let clients: Lab;
  let dir: string;
  let homeport: DhcpRunner | undefined;
  const dhcpcdIf = `hpd${process.pid}`.slice(0, 15);

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-dhcp-relay-'));
    servers = await createLab({ subnet: '10.77.43' });
    clients = await createLab({ subnet: '10.77.44' });
    await runOk('ip', [
      '-n',
      clients.ns,
      'link',
      'add',
      'up0',
      'type',
      'veth',
      'peer',
      'name',
      'rly0',
      'netns',
      servers.ns,
    ]);
    await runOk('ip', ['-n', servers.ns, 'link', 'set', 'rly0', 'master', 'br0', 'up']);
    await runOk('ip', ['-n', clients.ns, 'addr', 'add', '10.77.43.2/24', 'dev', 'up0']);
    await runOk('ip', ['-n', clients.ns, 'link', 'set', 'up0', 'up']);
    await runOk('ip', ['-n', servers.ns, 'route', 'add', '10.77.44.0/24', 'via', '10.77.43.2']);
    // Renewals are unicast from the client to the server: the relay's namespace routes them (a per-namespace sysctl).
    await runOk('ip', ['netns', 'exec', clients.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const sqlitePath = path.join(dir, 'homeport.sqlite');
    await withStore(sqlitePath, async (knex) => {
      const now = Date.now();
      await knex('nodes').insert({
        mac: RESERVED.mac,
        ip: RESERVED.ip,
        hostname: 'pve-reserved',
        registered_at: now,
        last_update: now,
      });
    });
    homeport = await startDhcpRunner(servers, {
      mode: 'full',
      interface: 'br0',
      serverIp: '10.77.43.1',
      httpBaseUrl: 'http://10.77.43.1:8080',
      sqlitePath,
      pool: {
        start: '10.77.44.100',
        end: '10.77.44.150',
        subnetMask: '255.255.255.0',
        router: '10.77.44.1',
        leaseSeconds: LEASE_SECONDS,
      },
    });
    const relay = clients.spawn(clients.ns, 'dhcrelay', [
      '-4',
      '-d',
      '-a',
      '-D',
      '--no-pid',
      '-iu',
      'up0',
      '-id',
      'br0',
      '10.77.43.1',
    ]);
    relay.stdout?.resume();
    relay.stderr?.resume();
    await sleep(500); // dhcrelay opens its sockets at once and prints no readiness line we can rely on
  });

  after(async () => {
    await homeport?.stop();
    await clients?.destroy();
    await servers?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    for (const file of [
      `/var/lib/dhcpcd/${dhcpcdIf}.lease`,
      `/run/dhcpcd/${dhcpcdIf}-4.pid`,
      `/run/dhcpcd/${dhcpcdIf}.pid`,
    ])
      fs.rmSync(file, { force: true });
  });

  const replies = (mac: string) => homeport!.logs().filter((l) => l.msg === 'dhcp reply' && l.mac === mac);

  it('a udhcpc client behind dhcrelay -a -D gets its lease, with option 82 echoed back to the relay', async () => {
    const host = await clients.addHost('behind-relay', { mac: '02:00:00:44:00:01' });
    const env = await udhcpc(clients, host, dir, []);
    expect(env.ip).to.match(/^10\.77\.44\.(1[0-4]\d|150)$/);
    expect(env.router).to.equal('10.77.44.1');
    expect(env.serverid).to.equal('10.77.43.1');
    const ack = replies(host.mac).find((l) => l.type === 'ACK');
    // dhcrelay -a puts the circuit id (sub-option 1) = its client-side interface name.
    expect(ack?.agentInfo, 'option 82 echoed').to.match(new RegExp(`^0103${Buffer.from('br0').toString('hex')}`));
  });

  it('a node keeps its reserved address with no client id (PXE firmware) and with a DUID (installed OS); an unreserved MAC keeps its lease too', async () => {
    const node = await clients.addHost('reserved', { mac: RESERVED.mac });
    expect((await udhcpc(clients, node, dir, ['-C'])).ip).to.equal(RESERVED.ip);
    expect((await udhcpc(clients, node, dir, ['-x', `0x3d:${DUID}`])).ip).to.equal(RESERVED.ip);
    const other = await clients.addHost('unreserved', { mac: '02:00:00:44:00:02' });
    const first = (await udhcpc(clients, other, dir, ['-C'])).ip;
    expect((await udhcpc(clients, other, dir, ['-x', `0x3d:${DUID}`])).ip).to.equal(first);
  });

  it('udhcpc, dhclient and dhcpcd renew their leases at T1 through the relay', async () => {
    const hosts = await Promise.all(
      ['renew-udhcpc', 'renew-dhclient', 'renew-dhcpcd'].map((label, i) =>
        clients.addHost(label, { mac: `02:00:00:44:01:0${i + 1}` }),
      ),
    );
    const [u, d, c] = hosts as [(typeof hosts)[0], (typeof hosts)[0], (typeof hosts)[0]];
    // As a configured client has: the router, reachable before the address is set (onlink).
    for (const h of hosts)
      await runOk('ip', ['-n', h.ns, 'route', 'add', 'default', 'via', '10.77.44.1', 'dev', 'eth0', 'onlink']);
    const dhclientScript = path.join(dir, 'dhclient-script.sh');
    fs.writeFileSync(
      dhclientScript,
      [
        '#!/bin/sh',
        'case "$reason" in',
        '  BOUND|RENEW|REBIND|REBOOT) ip addr replace "$new_ip_address/24" dev "$interface" ;;',
        'esac',
        'exit 0',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const envFile = path.join(dir, 'renew.env');
    clients
      .spawn(u.ns, 'udhcpc', ['-i', 'eth0', '-f', '-t', '4', '-T', '2', '-s', writeUdhcpcScript(dir, envFile)])
      .stdout?.resume();
    fs.writeFileSync(path.join(dir, 'dhclient.conf'), 'timeout 20;\n');
    clients
      .spawn(d.ns, 'dhclient', [
        '-d',
        '-4',
        '-cf',
        path.join(dir, 'dhclient.conf'),
        '-sf',
        dhclientScript,
        '-lf',
        path.join(dir, 'renew.leases'),
        '-pf',
        path.join(dir, 'renew-dhclient.pid'),
        'eth0',
      ])
      .stderr?.resume();
    // dhcpcd keeps its pid and lease files under /run/dhcpcd and /var/lib/dhcpcd, shared by every namespace,
    // named after the interface: a name unique to this run keeps them apart, and the after hook removes them.
    // -c /bin/true: no hook scripts (they would write the host's /etc/resolv.conf).
    await runOk('ip', ['-n', c.ns, 'link', 'set', 'eth0', 'name', dhcpcdIf]);
    await runOk('ip', ['-n', c.ns, 'link', 'set', dhcpcdIf, 'up']);
    await runOk('ip', ['-n', c.ns, 'route', 'replace', 'default', 'via', '10.77.44.1', 'dev', dhcpcdIf, 'onlink']);
    clients
      .spawn(c.ns, 'dhcpcd', [
        '--nobackground',
        '-4',
        '--noarp',
        '--noipv4ll',
        '-f',
        '/dev/null',
        '-c',
        '/bin/true',
        '-t',
        '20',
        dhcpcdIf,
      ])
      .stderr?.resume();

    // A renewal is a REQUEST from the client's own address (ciaddr), answered by an ACK carrying it back.
    const renewed = (mac: string) =>
      replies(mac).some(
        (l) => l.type === 'ACK' && l.ciaddr !== undefined && l.ciaddr !== '0.0.0.0' && l.ciaddr === l.yiaddr,
      );
    const deadline = Date.now() + (LEASE_SECONDS / 2 + 25) * 1000;
    while (Date.now() < deadline && !hosts.every((h) => renewed(h.mac))) await sleep(500);
    const seen = (mac: string): LogLine[] =>
      homeport!.logs().filter((l) => l.mac === mac && (l.msg === 'dhcp reply' || l.msg === 'dhcp request'));
    for (const h of hosts)
      expect(renewed(h.mac), `${h.ns}: ${JSON.stringify(seen(h.mac).map((l) => [l.msg, l.type, l.ciaddr]))}`).to.equal(
        true,
      );
  });
});
