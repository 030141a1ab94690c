/**
 * homeport's DHCP server against real clients, inside network namespaces this
 * test creates (DESIGN.md, safety): the server runs in the lab's switch
 * namespace on br0, each client in its own namespace wired to the bridge.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { MessageType } from '../../server/dhcp/codec.js';
import {
  dhclient,
  leaseStates,
  probe,
  probeHost,
  readEnvFile,
  startDhcpRunner,
  udhcpc,
  withStore,
  writeUdhcpcScript,
  type DhcpRunner,
} from '../helpers/dhcp-lab.js';
import { createLab, sleep, stopChild, type Lab } from '../helpers/netns.js';

const PXE_BIOS = 'PXEClient:Arch:00000:UNDI:002001';
const hex = (s: string) => Buffer.from(s).toString('hex');

describe('dhcp server with real clients in network namespaces', function () {
  this.timeout(120_000);

  describe('full mode', () => {
    const subnet = '10.77.30';
    const serverIp = `${subnet}.1`;
    let lab: Lab;
    let dir: string;
    let homeport: DhcpRunner | undefined;
    let config: Record<string, unknown>;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-dhcp-full-'));
      lab = await createLab({ subnet });
      config = {
        mode: 'full',
        interface: 'br0',
        serverIp,
        httpBaseUrl: `http://${serverIp}:8080`,
        sqlitePath: path.join(dir, 'homeport.sqlite'),
        pool: {
          start: `${subnet}.100`,
          end: `${subnet}.150`,
          subnetMask: '255.255.255.0',
          router: serverIp,
          dns: [serverIp],
          domain: 'lab.test',
          leaseSeconds: 600,
        },
      };
      homeport = await startDhcpRunner(lab, config);
    });

    after(async () => {
      await homeport?.stop();
      await lab?.destroy();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('udhcpc declines an address another host already uses (ARP check), and gets the next one', async () => {
      await lab.addHost('squatter', { address: `${subnet}.100` });
      const host = await lab.addHost('udhcpc-arp', { mac: '02:00:00:30:00:01' });
      const env = await udhcpc(lab, host, dir, ['-a']);
      expect(env.ip).to.not.equal(`${subnet}.100`);
      expect(
        homeport!.logs().some((l) => l.msg === 'dhcp request' && l.type === 'DECLINE' && l.mac === host.mac),
      ).to.equal(true);
    });

    it('isc dhclient with a BIOS PXE vendor class gets a pool lease and undionly.kpxe', async () => {
      const host = await lab.addHost('dhclient-pxe', { mac: '02:00:00:30:00:02' });
      const lease = await dhclient(lab, host, dir, [
        `send vendor-class-identifier "${PXE_BIOS}";`,
        'request subnet-mask, routers, domain-name-servers, bootfile-name;',
      ]);
      expect(lease.address).to.match(/^10\.77\.30\.(1[0-4]\d|150)$/);
      expect(lease.serverId).to.equal(serverIp);
      expect(lease.filename).to.equal('undionly.kpxe');
    });

    it('busybox udhcpc announcing iPXE gets a lease and the HTTP entry script', async () => {
      const host = await lab.addHost('udhcpc-ipxe', { mac: '02:00:00:30:00:03' });
      const env = await udhcpc(lab, host, dir, ['-V', PXE_BIOS, '-x', `0x4d:${hex('iPXE')}`, '-O', '67']);
      expect(env.ip).to.match(/^10\.77\.30\./);
      expect(env.boot_file).to.equal(`http://${serverIp}:8080/boot.ipxe`);
      expect(env.subnet).to.equal('255.255.255.0');
      expect(env.router).to.equal(serverIp);
      expect(env.domain).to.equal('lab.test');
      expect(env.lease).to.equal('600');
    });

    it('udhcpc as UEFI x64 PXE (arch 7) gets snponly.efi from the TFTP server', async () => {
      const host = await lab.addHost('udhcpc-efi', { mac: '02:00:00:30:00:04' });
      const env = await udhcpc(lab, host, dir, ['-V', 'PXEClient:Arch:00007:UNDI:003016', '-x', '0x5d:0007']);
      expect(env.boot_file).to.equal('snponly.efi');
      expect(env.siaddr).to.equal(serverIp);
    });

    it('a client that is not network-booting gets a lease and no boot file', async () => {
      const host = await lab.addHost('dhclient-plain', { mac: '02:00:00:30:00:05' });
      const lease = await dhclient(lab, host, dir, []);
      expect(lease.address).to.match(/^10\.77\.30\./);
      expect(lease.filename).to.equal(undefined);
    });

    it('NAKs a client rebooting with an address it may not have; the client then gets a pool address', async () => {
      const host = await lab.addHost('dhclient-nak', { mac: '02:00:00:30:00:06' });
      // A lease from another network in dhclient's lease file makes it ask for that address first (INIT-REBOOT).
      const stale = `lease {\n  interface "eth0";\n  fixed-address 192.168.99.7;\n  option subnet-mask 255.255.255.0;\n  option dhcp-server-identifier 192.168.99.1;\n  renew 4 2037/01/01 00:00:00;\n  rebind 4 2037/01/01 00:00:00;\n  expire 4 2037/01/01 00:00:00;\n}\n`;
      const lease = await dhclient(lab, host, dir, [], stale);
      expect(lease.address).to.match(/^10\.77\.30\./);
      expect(homeport!.logs().some((l) => l.msg === 'dhcp reply' && l.type === 'NAK' && l.mac === host.mac)).to.equal(
        true,
      );
    });

    it('udhcpc -R releases its lease on exit, and the store says so', async () => {
      const host = await lab.addHost('udhcpc-release', { mac: '02:00:00:30:00:07' });
      // With -q busybox quits before it counts as bound and skips the release; so run it
      // as a daemon in the foreground and stop it once bound: -R then releases on SIGTERM.
      const envFile = path.join(dir, 'release.env');
      const script = writeUdhcpcScript(dir, envFile);
      const client = lab.spawn(host.ns, 'udhcpc', ['-i', 'eth0', '-f', '-R', '-t', '4', '-T', '2', '-s', script]);
      for (let i = 0; i < 100 && !fs.existsSync(envFile); i++) await sleep(100);
      await stopChild(client);
      const env = readEnvFile(envFile);
      // The RELEASE has no reply: poll the store briefly (bounded) for the write.
      let state: { ip: string; state: string } | undefined;
      for (let i = 0; i < 20 && state?.state !== 'released'; i++) {
        state = (await leaseStates(config.sqlitePath as string)).get(host.mac);
        if (state?.state !== 'released') await sleep(100);
      }
      expect(state).to.deep.equal({ ip: env.ip, state: 'released' });
    });

    it('answers INFORM with configuration and boot info but no lease', async () => {
      const host = await probeHost(lab, 'inform', `${subnet}.60`);
      const replies = await probe(lab, host, {
        to: serverIp,
        port: 67,
        waitMs: 1500,
        packet: {
          messageType: MessageType.INFORM,
          mac: host.mac,
          ciaddr: `${subnet}.60`,
          options: { 60: hex(PXE_BIOS) },
        },
      });
      expect(replies).to.have.length(1);
      expect(replies[0]).to.deep.include({
        messageType: MessageType.ACK,
        ciaddr: `${subnet}.60`,
        yiaddr: '0.0.0.0',
        file: 'undionly.kpxe',
      });
      expect(replies[0]!.options).to.not.have.property('51');
      expect(replies[0]!.options['1']).to.equal('ffffff00');
    });

    it('answers a relayed DISCOVER (giaddr set) by unicast to the relay port 67', async () => {
      const relay = await probeHost(lab, 'relay', `${subnet}.61`);
      const replies = await probe(lab, relay, {
        to: serverIp,
        port: 67,
        listenPort: 67,
        waitMs: 1500,
        packet: { messageType: MessageType.DISCOVER, mac: '02:00:00:30:00:08', giaddr: `${subnet}.61` },
      });
      expect(replies).to.have.length(1);
      expect(replies[0]).to.deep.include({ messageType: MessageType.OFFER, from: serverIp, fromPort: 67 });
      expect(replies[0]!.yiaddr).to.match(/^10\.77\.30\./);
    });

    it('drops garbage without crashing and keeps answering', async () => {
      const host = await probeHost(lab, 'garbage', `${subnet}.62`);
      for (const rawHex of ['', 'ff'.repeat(10), '01'.repeat(300), `${'00'.repeat(236)}63825363350101` + '3c']) {
        expect(await probe(lab, host, { to: serverIp, port: 67, waitMs: 200, rawHex })).to.deep.equal([]);
      }
      const replies = await probe(lab, host, {
        to: serverIp,
        port: 67,
        waitMs: 1500,
        packet: { messageType: MessageType.DISCOVER, mac: '02:00:00:30:00:09', flags: 0x8000 },
      });
      expect(replies.map((r) => r.messageType)).to.deep.equal([MessageType.OFFER]);
      expect(homeport!.logs().filter((l) => l.msg === 'dhcp malformed packet').length).to.be.at.least(3);
      expect(homeport!.child.exitCode).to.equal(null);
    });

    it('keeps leases across a restart and serves reservations from the nodes table', async () => {
      const again = await lab.addHost('udhcpc-again', { mac: '02:00:00:30:00:0a' });
      const before = await udhcpc(lab, again, dir, []);
      const dhclientHost = await lab.addHost('dhclient-again', { mac: '02:00:00:30:00:0b' });
      const dhclientBefore = await dhclient(lab, dhclientHost, dir, []);
      const reserved = await lab.addHost('reserved', { mac: '02:00:00:30:00:0c' });
      await addNode(config.sqlitePath as string, reserved.mac, `${subnet}.20`, 'pve-reserved');

      await homeport!.stop();
      homeport = await startDhcpRunner(lab, config);

      expect((await udhcpc(lab, again, dir, [])).ip).to.equal(before.ip);
      expect((await dhclient(lab, dhclientHost, dir, [])).address).to.equal(dhclientBefore.address);
      const env = await udhcpc(lab, reserved, dir, []);
      expect(env.ip).to.equal(`${subnet}.20`);
      expect(env.hostname).to.equal('pve-reserved');
    });
  });

  describe('proxy mode beside dnsmasq', () => {
    const subnet = '10.77.31';
    const serverIp = `${subnet}.1`;
    const dnsmasqIp = `${subnet}.2`;
    let lab: Lab;
    let dir: string;
    let homeport: DhcpRunner | undefined;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-dhcp-proxy-'));
      lab = await createLab({ subnet });
      const dnsmasqHost = await lab.addHost('dnsmasq', { address: dnsmasqIp });
      const dnsmasq = lab.spawn(dnsmasqHost.ns, 'dnsmasq', [
        '--no-daemon',
        '--conf-file=/dev/null',
        '--port=0',
        '--interface=eth0',
        '--bind-interfaces',
        '--log-dhcp',
        `--dhcp-range=${subnet}.100,${subnet}.150,255.255.255.0,1h`,
        `--dhcp-leasefile=${dir}/dnsmasq.leases`,
        '--user=root',
        '--group=root',
      ]);
      dnsmasq.stderr?.resume();
      homeport = await startDhcpRunner(lab, {
        mode: 'proxy',
        interface: 'br0',
        serverIp,
        httpBaseUrl: `http://${serverIp}:8080`,
        sqlitePath: path.join(dir, 'homeport.sqlite'),
      });
      await sleep(500); // dnsmasq binds in a few ms; no readiness line to wait for
    });

    after(async () => {
      await homeport?.stop();
      await lab?.destroy();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('a PXE-flagged dhclient gets its address from dnsmasq while homeport offers only boot info', async () => {
      const host = await lab.addHost('dhclient-pxe', { mac: '02:00:00:31:00:01' });
      // A PXE ROM knows a proxy offer by its missing address and takes its address elsewhere;
      // dhclient is no PXE ROM and must be told to skip offers without a subnet mask.
      const conf = [`send vendor-class-identifier "${PXE_BIOS}";`, 'require subnet-mask;'];
      const lease = await dhclient(lab, host, dir, conf);
      expect(lease.serverId).to.equal(dnsmasqIp);
      expect(lease.address).to.match(/^10\.77\.31\.(1[0-4]\d|150)$/);
      const offers = homeport!.logs().filter((l) => l.msg === 'dhcp reply' && l.mac === host.mac);
      expect(offers.length).to.be.at.least(1);
      for (const offer of offers)
        expect(offer).to.deep.include({ type: 'OFFER', yiaddr: '0.0.0.0', file: 'undionly.kpxe' });
    });

    it('a PXE DISCOVER sees an address offer from dnsmasq and a boot offer without address from homeport', async () => {
      const host = await probeHost(lab, 'probe-discover', `${subnet}.60`);
      const replies = await probe(lab, host, {
        // dnsmasq pings an address (about 3 s) before offering it.
        to: '255.255.255.255',
        port: 67,
        waitMs: 4500,
        packet: {
          messageType: MessageType.DISCOVER,
          mac: '02:00:00:31:00:02',
          flags: 0x8000,
          options: { 60: hex('PXEClient:Arch:00007:UNDI:003000'), 93: '0007' },
        },
      });
      const fromHomeport = replies.find((r) => r.serverId === serverIp);
      const fromDnsmasq = replies.find((r) => r.serverId === dnsmasqIp);
      expect(fromDnsmasq, JSON.stringify(replies)).to.not.equal(undefined);
      expect(fromDnsmasq?.yiaddr).to.match(/^10\.77\.31\./);
      expect(fromHomeport).to.deep.include({
        messageType: MessageType.OFFER,
        yiaddr: '0.0.0.0',
        siaddr: serverIp,
        file: 'snponly.efi',
        vendorClass: 'PXEClient',
      });
    });

    it('answers a PXE boot-server REQUEST on port 4011 with an ACK carrying the boot file', async () => {
      const host = await probeHost(lab, 'probe-4011', `${subnet}.61`);
      const replies = await probe(lab, host, {
        to: serverIp,
        port: 4011,
        waitMs: 1500,
        packet: {
          messageType: MessageType.REQUEST,
          mac: host.mac,
          ciaddr: `${subnet}.61`,
          options: { 60: hex(PXE_BIOS), 77: hex('iPXE') },
        },
      });
      // Broadcasts from dnsmasq to other clients on the segment may arrive too; keep homeport's.
      const fromHomeport = replies.filter((r) => r.from === serverIp);
      expect(fromHomeport, JSON.stringify(replies)).to.have.length(1);
      expect(fromHomeport[0]).to.deep.include({
        messageType: MessageType.ACK,
        fromPort: 4011,
        yiaddr: '0.0.0.0',
        file: `http://${serverIp}:8080/boot.ipxe`,
      });
    });

    it('leaves clients that are not network-booting to dnsmasq', async () => {
      const host = await lab.addHost('udhcpc-plain', { mac: '02:00:00:31:00:03' });
      const env = await udhcpc(lab, host, dir, []);
      expect(env.serverid).to.equal(dnsmasqIp);
      expect(env.boot_file).to.equal(undefined);
      expect(homeport!.logs().some((l) => l.msg === 'dhcp reply' && l.mac === host.mac)).to.equal(false);
      expect(homeport!.logs().some((l) => l.msg === 'dhcp request ignored' && l.mac === host.mac)).to.equal(true);
    });
  });
});

function addNode(sqlitePath: string, mac: string, ip: string, hostname: string): Promise<void> {
  const now = Date.now();
  return withStore(sqlitePath, async (knex) => {
    await knex('nodes').insert({ mac, ip, hostname, registered_at: now, last_update: now });
  });
}
