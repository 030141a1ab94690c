/**
 * The fuzzed packets of fuzz-codecs.test.ts, sent over real sockets to running
 * servers: DHCP inside a lab of network namespaces (the server in the switch
 * namespace, the sender and the real clients in host namespaces), TFTP on
 * loopback. Afterwards the server is alive, logged the malformed packets as
 * warnings and nothing worse, and real clients still get correct answers.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import fc from 'fast-check';
import { parseDhcp } from '../../server/dhcp/codec.js';
import { parsePacket } from '../../server/tftp/packet.js';
import { startTftpServer, type TftpServer } from '../../server/tftp/server.js';
import { captureLogger } from '../helpers/capture-log.js';
import {
  dhclient,
  leaseStates,
  probe,
  probeHost,
  udhcpc,
  type DhcpRunner,
  startDhcpRunner,
} from '../helpers/dhcp-lab.js';
import { createLab, sleep, type Lab } from '../helpers/netns.js';
import { clients, freeUdpPort, RawClient, run, sha256File, writeRandomFile } from '../tftp/helpers.js';
import { dhcpStructured, fixtures, mutated, randomDatagram, sampleInputs } from './mutations.js';

/** Datagrams per server; the pure properties run far more, this proves the socket edge. */
const SOCKET_PACKETS = Number(process.env.HOMEPORT_FUZZ_SOCKET_PACKETS ?? 3000);

interface LogLine {
  level: number;
  msg: string;
}
const WARN = 40;

/** Packets as a file of hex lines, for test/helpers/dhcp-probe.ts in the sender's namespace. */
function hexFile(dir: string, name: string, packets: Buffer[]): string {
  const file = path.join(dir, `${name}.hex`);
  fs.writeFileSync(file, packets.map((p) => p.toString('hex')).join('\n'));
  return file;
}

describe('fuzzed packets over real sockets', function () {
  this.timeout(180_000);

  describe('DHCP server in a network namespace', () => {
    const subnet = '10.77.41';
    const serverIp = `${subnet}.1`;
    let lab: Lab;
    let dir: string;
    let server: DhcpRunner | undefined;
    let sqlitePath: string;

    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-fuzz-dhcp-'));
      sqlitePath = path.join(dir, 'homeport.sqlite');
      lab = await createLab({ subnet });
      server = await startDhcpRunner(lab, {
        logLevel: 'warn',
        mode: 'full',
        interface: 'br0',
        serverIp,
        httpBaseUrl: `http://${serverIp}:8080`,
        sqlitePath,
        pool: {
          start: `${subnet}.10`,
          end: `${subnet}.250`,
          subnetMask: '255.255.255.0',
          router: serverIp,
          leaseSeconds: 600,
        },
      });
    });

    after(async () => {
      await server?.stop();
      await lab?.destroy();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('options that overrun the packet get no answer and write no lease', async () => {
      const sender = await probeHost(lab, 'overrun', `${subnet}.5`);
      const discover = fixtures('dhcp').find((f) => f.name === 'udhcpc-discover.bin')!.bytes;
      // The last option before the end claims 200 bytes more than the packet has; then one cut inside an option header.
      const end = discover.indexOf(255, 240);
      const overrun = Buffer.concat([discover.subarray(0, end), Buffer.from([60, 200, 0x50, 0x58])]);
      const cut = Buffer.concat([discover.subarray(0, end), Buffer.from([61])]);
      for (const bad of [overrun, cut]) expect(parseDhcp(bad).ok).to.equal(false);
      const replies = await probe(lab, sender, {
        to: '255.255.255.255',
        port: 67,
        listenPort: 68,
        waitMs: 1000,
        rawHexFile: hexFile(dir, 'overrun', [overrun, cut]),
      });
      expect(replies).to.deep.equal([]);
      expect((await leaseStates(sqlitePath)).size, 'no lease row written').to.equal(0);
    });

    it(`survives ${SOCKET_PACKETS.toLocaleString('en')} random and mutated packets, logs them as warnings, and still serves udhcpc and dhclient`, async () => {
      const seeds = fixtures('dhcp').map((f) => f.bytes);
      const packets = sampleInputs(fc.oneof(mutated(seeds), dhcpStructured(), randomDatagram(600)), SOCKET_PACKETS);
      const malformed = packets.filter((p) => !parseDhcp(p).ok).length;
      const sender = await probeHost(lab, 'fuzzer', `${subnet}.6`);
      const started = server!.logs().length;
      // Broadcast (the wildcard socket) and unicast (the server-address socket), half each.
      const half = Math.ceil(packets.length / 2);
      await probe(lab, sender, {
        to: '255.255.255.255',
        port: 67,
        listenPort: 68,
        waitMs: 200,
        rawHexFile: hexFile(dir, 'broadcast', packets.slice(0, half)),
      });
      await probe(lab, sender, {
        to: serverIp,
        port: 67,
        listenPort: 68,
        waitMs: 1000,
        rawHexFile: hexFile(dir, 'unicast', packets.slice(half)),
      });

      expect(server!.child.exitCode, 'server process alive').to.equal(null);
      const lines = server!.logs().slice(started) as unknown as LogLine[];
      const warnings = lines.filter((l) => l.msg === 'dhcp malformed packet' && l.level === WARN).length;
      // Loss on a local veth is rare; allow a little, but most must have been read and logged.
      expect(warnings, `${malformed} malformed sent`).to.be.within(Math.floor(malformed * 0.95), malformed);
      expect(
        lines.filter((l) => l.level > WARN).map((l) => l.msg),
        'no errors logged',
      ).to.deep.equal([]);

      const udhcpcHost = await lab.addHost('after-udhcpc', { mac: '02:00:00:41:00:01' });
      const env = await udhcpc(lab, udhcpcHost, dir, []);
      expect(env.ip).to.match(/^10\.77\.41\.\d+$/);
      expect(env.serverid).to.equal(serverIp);
      const dhclientHost = await lab.addHost('after-dhclient', { mac: '02:00:00:41:00:02' });
      const lease = await dhclient(lab, dhclientHost, dir, [
        'send vendor-class-identifier "PXEClient:Arch:00000:UNDI:002001";',
      ]);
      expect(lease.address).to.match(/^10\.77\.41\.\d+$/);
      expect(lease.filename).to.equal('undionly.kpxe');
      expect(server!.child.exitCode, 'server process alive').to.equal(null);
    });
  });

  describe('TFTP server on loopback', () => {
    let base: string;
    let root: string;
    let tftp: TftpServer;
    const capture = captureLogger('info');

    before(async () => {
      base = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-fuzz-tftp-'));
      root = path.join(base, 'root');
      fs.mkdirSync(root);
      // The names the captured requests ask for, so mutated requests start real transfers too.
      writeRandomFile(path.join(root, 'small.bin'), 300_000);
      fs.writeFileSync(path.join(root, 'notes.txt'), 'line one\nline two\n');
      // Short timeouts: transfers the fuzzer starts and never acknowledges end quickly.
      tftp = await startTftpServer({
        host: '127.0.0.1',
        port: await freeUdpPort(),
        roots: [root],
        log: capture.log,
        workers: 0,
        timeoutMs: 100,
        retries: 2,
        maxSessions: 50,
      });
    });

    after(async () => {
      await tftp?.close();
      fs.rmSync(base, { recursive: true, force: true });
    });

    it(`survives ${SOCKET_PACKETS.toLocaleString('en')} random and mutated packets, logs them as warnings, and still serves tftp-hpa and curl byte for byte`, async () => {
      const seeds = fixtures('tftp').map((f) => f.bytes);
      const packets = sampleInputs(fc.oneof(mutated(seeds), randomDatagram(600)), SOCKET_PACKETS);
      const malformed = packets.filter((p) => !parsePacket(p).ok).length;
      // Many source ports, so requests are not all "the same client retransmitting".
      const senders = await Promise.all(Array.from({ length: 20 }, () => RawClient.open()));
      for (const [i, packet] of packets.entries()) {
        senders[i % senders.length]!.send(packet, tftp.address.port);
        if (i % 50 === 49) await sleep(5);
      }
      await sleep(1500); // every fuzzer-started transfer times out (100 ms x 2 retries)
      for (const sender of senders) sender.close();

      const lines = capture.lines() as unknown as LogLine[];
      const warnings = lines.filter((l) => l.msg === 'tftp: malformed packet dropped' && l.level === WARN).length;
      expect(warnings, `${malformed} malformed sent`).to.be.within(Math.floor(malformed * 0.95), malformed);
      expect(
        lines.filter((l) => l.level > WARN).map((l) => l.msg),
        'no errors logged',
      ).to.deep.equal([]);

      const expected = await sha256File(path.join(root, 'small.bin'));
      const hpa = path.join(base, 'hpa.bin');
      const viaHpa = await run(...clients.tftpHpa(tftp.address.port, 'small.bin', hpa), 30_000);
      expect(viaHpa.code, viaHpa.stderr).to.equal(0);
      expect(await sha256File(hpa)).to.equal(expected);
      const viaCurl = path.join(base, 'curl.bin');
      const curl = await run(...clients.curl(tftp.address.port, 'small.bin', viaCurl, 1468), 30_000);
      expect(curl.code, curl.stderr).to.equal(0);
      expect(await sha256File(viaCurl)).to.equal(expected);
    });
  });
});
