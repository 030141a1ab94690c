/**
 * Differential conformance: the same packets (built with our codec, sent by
 * test/helpers/dhcp-differential-driver.ts from a client namespace) go to
 * homeport, to kea-dhcp4 and to dnsmasq, each configured alike and run in turn
 * on the lab's bridge (DESIGN.md, safety: only inside namespaces this test
 * makes). Each case asserts homeport's reply and prints Kea's and dnsmasq's
 * beside it; the three are written to test/dhcp/results/differential.json,
 * from which scripts/dhcp-behaviour-table.ts makes the README's "DHCP behaviour" table.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { expectedReadme } from '../../scripts/dhcp-behaviour-table.js';
import { probeHost, startDhcpRunner } from '../helpers/dhcp-lab.js';
import type { DriverSpec, Observation } from '../helpers/dhcp-differential-driver.js';
import { createLab, runOk, sleep, stopChild, waitForOutput, type Lab, type LabHost } from '../helpers/netns.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const DRIVER = path.join(REPO, 'test/helpers/dhcp-differential-driver.ts');
export const RESULTS_FILE = path.join(REPO, 'test/dhcp/results/differential.json');

const subnet = '10.77.40';
const serverIp = `${subnet}.1`;
const POOL = { start: `${subnet}.100`, end: `${subnet}.150` };
const LEASE_SECONDS = 600;
/**
 * 60 DNS servers and a long domain make a full reply about 590 bytes: over the
 * 548 a client without option 57 accepts (576-byte datagram), under 1500; so the
 * option 57 cases show what each server leaves out.
 */
const DNS = Array.from({ length: 60 }, (_, i) => `10.77.41.${i + 1}`);
const DOMAIN = 'conformance-test-domain-with-a-long-name-to-fill-the-reply.lab.test';
const inPool = /^10\.77\.40\.(1[0-4]\d|150)$/;
/** A relay's option 82 as ISC dhcrelay -a builds it: circuit-id "eth1", remote-id (its MAC). */
const AGENT_HEX = '01046574683102060200000000fe';
const BROADCAST = 'broadcast:68';

type Server = 'homeport' | 'kea' | 'dnsmasq';
type Results = Record<string, Observation>;

/** What homeport must answer, per case; `why` where it deliberately differs from Kea or dnsmasq. */
interface Expectation {
  check: (o: Observation) => void;
  why?: string;
}

const addressReply = (type: string, to: RegExp | string) => (o: Observation) => {
  expect(o).to.include({ silent: false, type, ciaddr: '0.0.0.0' });
  expect(o.yiaddr).to.match(inPool);
  expect(o.to).to.match(typeof to === 'string' ? new RegExp(`^${to}$`) : to);
  expect(o.options).to.include({ 1: 'ffffff00', 3: '0a4d2801', 51: '00000258', 54: '0a4d2801' });
};
const echoes61 = (o: Observation) => expect(o.options?.['61']).to.match(/^0102/);
const no82 = (o: Observation) => expect(o.options).to.not.have.property('82');
const silent = (o: Observation) => expect(o.silent, JSON.stringify(o)).to.equal(true);

const EXPECTED: Record<string, Expectation> = {
  'DISCOVER direct, 61': { check: (o) => (addressReply('OFFER', BROADCAST)(o), echoes61(o), no82(o)) },
  'REQUEST direct (SELECTING), 61': { check: (o) => (addressReply('ACK', BROADCAST)(o), echoes61(o), no82(o)) },
  'DISCOVER direct, forged 82': {
    check: (o) => (addressReply('OFFER', BROADCAST)(o), no82(o)),
    why: 'RFC 3046 2.2: 82 is echoed to a relay; one sent directly by a client is forged and never comes back',
  },
  'DISCOVER relayed, 82 + 61': {
    check: (o) => (
      addressReply('OFFER', '10.77.40.61:67')(o),
      echoes61(o),
      expect(o.options?.['82']).to.equal(AGENT_HEX)
    ),
  },
  'REQUEST relayed, 82 + 61': {
    check: (o) => (
      addressReply('ACK', '10.77.40.61:67')(o),
      echoes61(o),
      expect(o.options?.['82']).to.equal(AGENT_HEX)
    ),
  },
  'RENEWING (unicast, ciaddr)': { check: (o) => renewalAck(o) },
  'REBINDING (broadcast, ciaddr)': { check: (o) => renewalAck(o) },
  'INIT-REBOOT, known address': { check: (o) => addressReply('ACK', BROADCAST)(o) },
  'INIT-REBOOT, unknown client': {
    check: silent,
    why: 'not authoritative by default (dhcp.authoritative: false): another server may own the lease',
  },
  'INIT-REBOOT, wrong subnet': {
    why: 'RFC 2131 4.3.2 SHOULD: a machine moved to this network (or a stale lease file) starts over at once instead of after its timeouts; Kea and dnsmasq NAK only when authoritative',
    check: (o) => {
      expect(o).to.include({ silent: false, type: 'NAK', yiaddr: '0.0.0.0', to: BROADCAST });
      expect(o.options).to.not.have.property('51');
    },
  },
  'INFORM (ciaddr)': {
    check: (o) => {
      expect(o).to.include({
        silent: false,
        type: 'ACK',
        yiaddr: '0.0.0.0',
        ciaddr: `${subnet}.60`,
        to: `unicast ${subnet}.60:68`,
      });
      expect(o.options).to.not.have.property('51');
      expect(o.options).to.include({ 1: 'ffffff00' });
    },
  },
  RELEASE: { check: silent },
  DECLINE: { check: silent },
  'DISCOVER, option 57 = 576': {
    check: (o) => (
      addressReply('OFFER', BROADCAST)(o),
      expect(o.bytes).to.be.at.most(548),
      expect(o.options).to.not.have.property('15')
    ),
    why: 'the reply must fit 548 bytes: homeport leaves out optional options, the last added first (here the domain name); it never overloads sname/file, where firmwares read the boot file',
  },
  'DISCOVER, option 57 = 1500': {
    check: (o) => (
      addressReply('OFFER', BROADCAST)(o),
      expect(o.bytes).to.be.within(549, 1472),
      expect(o.options).to.include.keys('6', '15')
    ),
  },
  'DISCOVER, 61 overloaded into file (52)': { check: (o) => (addressReply('OFFER', BROADCAST)(o), echoes61(o)) },
};

function renewalAck(o: Observation): void {
  expect(o).to.include({ silent: false, type: 'ACK' });
  expect(o.yiaddr).to.match(inPool);
  expect(o.ciaddr, 'RFC 2131 table 3: ciaddr comes back').to.equal(o.yiaddr);
  expect(o.to).to.equal(`unicast ${o.yiaddr}:68`);
}

describe('dhcp differential conformance: homeport beside Kea and dnsmasq', function () {
  this.timeout(300_000);
  let lab: Lab;
  let client: LabHost;
  let dir: string;
  const results: Partial<Record<Server, Results | string>> = {};

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-dhcp-diff-'));
    lab = await createLab({ subnet });
    client = await probeHost(lab, 'client', `${subnet}.60`);
    await runOk('ip', ['-n', client.ns, 'addr', 'add', `${subnet}.61/24`, 'dev', 'eth0']);
    results.homeport = await withHomeport(() => drive(1));
    results.kea = haveBinary('kea-dhcp4') ? await withKea(() => drive(2)) : 'kea-dhcp4 not installed';
    results.dnsmasq = haveBinary('dnsmasq') ? await withDnsmasq(() => drive(3)) : 'dnsmasq not installed';
    writeResults(results);
  });

  after(async () => {
    await lab?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const [name, expectation] of Object.entries(EXPECTED)) {
    it(name, () => {
      const ours = (results.homeport as Results)[name];
      const line = (who: Server) =>
        `      ${who.padEnd(8)} ${summarize(typeof results[who] === 'string' ? results[who] : (results[who] as Results)[name])}`;
      console.log(
        ['homeport', 'kea', 'dnsmasq'].map((who) => line(who as Server)).join('\n') +
          (expectation.why ? `\n      why: ${expectation.why}` : ''),
      );
      expect(ours, `no homeport result for ${name}`).to.not.equal(undefined);
      expectation.check(ours!);
    });
  }

  it('the README "DHCP behaviour" table shows these results', () => {
    const { readme, updated } = expectedReadme();
    expect(readme === updated, 'README.md is out of date: run npx tsx scripts/dhcp-behaviour-table.ts').to.equal(true);
  });

  async function drive(macByte: number): Promise<Results> {
    const spec: DriverSpec = {
      server: serverIp,
      client: `${subnet}.60`,
      relay: `${subnet}.61`,
      prefix: 24,
      foreignIp: '192.168.99.7',
      unknownIp: `${subnet}.149`,
      macByte,
      agentInfoHex: AGENT_HEX,
      waitMs: 700,
    };
    const result = await lab.exec(client.ns, process.execPath, ['--import', 'tsx', DRIVER, JSON.stringify(spec)], {
      timeoutMs: 90_000,
    });
    if (result.code !== 0) throw new Error(`driver failed: ${result.stderr}`);
    return JSON.parse(result.stdout.trim()) as Results;
  }

  async function withHomeport(use: () => Promise<Results>): Promise<Results> {
    const runner = await startDhcpRunner(lab, {
      mode: 'full',
      interface: 'br0',
      serverIp,
      httpBaseUrl: `http://${serverIp}:8080`,
      sqlitePath: path.join(dir, 'homeport.sqlite'),
      pool: {
        ...POOL,
        subnetMask: '255.255.255.0',
        router: serverIp,
        dns: DNS,
        domain: DOMAIN,
        leaseSeconds: LEASE_SECONDS,
      },
    });
    try {
      return await use();
    } finally {
      await runner.stop();
    }
  }

  async function withKea(use: () => Promise<Results>): Promise<Results | string> {
    const conf = path.join(dir, 'kea.json');
    fs.writeFileSync(conf, JSON.stringify(keaConfig()));
    const kea = lab.spawn(lab.ns, 'kea-dhcp4', ['-c', conf], {
      env: { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir },
    });
    kea.stderr?.resume();
    try {
      await waitForOutput(kea, /DHCP4_STARTED/, 20_000);
      return await use();
    } catch (err) {
      return `kea did not run: ${String(err).slice(0, 200)}`;
    } finally {
      await stopChild(kea);
    }
  }

  async function withDnsmasq(use: () => Promise<Results>): Promise<Results> {
    const dnsmasq = lab.spawn(lab.ns, 'dnsmasq', [
      '--no-daemon',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=br0',
      '--bind-interfaces',
      '--no-ping',
      `--dhcp-range=${POOL.start},${POOL.end},255.255.255.0,${LEASE_SECONDS}`,
      `--dhcp-option=3,${serverIp}`,
      `--dhcp-option=6,${DNS.join(',')}`,
      `--dhcp-option=15,${DOMAIN}`,
      `--dhcp-leasefile=${dir}/dnsmasq.leases`,
      '--user=root',
      '--group=root',
    ]);
    dnsmasq.stdout?.resume();
    dnsmasq.stderr?.resume();
    try {
      await sleep(700); // dnsmasq binds in a few ms and prints no readiness line
      return await use();
    } finally {
      await stopChild(dnsmasq);
    }
  }
});

function keaConfig(): unknown {
  return {
    Dhcp4: {
      'interfaces-config': { interfaces: ['br0'], 'dhcp-socket-type': 'raw' },
      'lease-database': { type: 'memfile', persist: false },
      'valid-lifetime': LEASE_SECONDS,
      authoritative: false,
      subnet4: [
        {
          subnet: `${subnet}.0/24`,
          pools: [{ pool: `${POOL.start} - ${POOL.end}` }],
          'option-data': [
            { name: 'routers', data: serverIp },
            { name: 'domain-name-servers', data: DNS.join(', ') },
            { name: 'domain-name', data: DOMAIN },
          ],
        },
      ],
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'INFO' }],
    },
  };
}

function haveBinary(name: string): boolean {
  return ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((dir) => fs.existsSync(path.join(dir, name)));
}

/**
 * One line per reply: type, addresses, destination (broadcast, unicast to an address, or the relay's port 67), options, size. Addresses
 * are named by role (the lease, the client, the relay), so the line does not
 * change with the address a server happens to pick.
 */
export function summarize(o: Observation | string | undefined): string {
  if (o === undefined) return 'no result';
  if (typeof o === 'string') return o;
  if (o.silent) return o.note ? `silent (${o.note})` : 'silent';
  const role = (ip: string | undefined): string => {
    if (ip === undefined) return '?';
    if (ip === `${subnet}.60`) return 'client';
    if (ip === `${subnet}.61`) return 'relay';
    return inPool.test(ip) ? 'lease' : ip;
  };
  const parts = [o.type ?? '?'];
  if (o.yiaddr && o.yiaddr !== '0.0.0.0') parts.push(`yiaddr ${role(o.yiaddr)}`);
  if (o.ciaddr && o.ciaddr !== '0.0.0.0') parts.push(`ciaddr ${role(o.ciaddr)}`);
  parts.push(`to ${(o.to ?? '?').replace(/\d+\.\d+\.\d+\.\d+/, (ip) => role(ip))}`);
  parts.push(`opts ${Object.keys(o.options ?? {}).join(',')}`);
  parts.push(`${o.bytes} B`);
  if (o.extra) parts.push(`+${o.extra} more`);
  return parts.join(', ');
}

function writeResults(results: Partial<Record<Server, Results | string>>): void {
  const cases = Object.entries(EXPECTED).map(([name, { why }]) => ({
    name,
    why: why ?? null,
    homeport: summarize(typeof results.homeport === 'string' ? results.homeport : results.homeport?.[name]),
    kea: summarize(typeof results.kea === 'string' ? results.kea : results.kea?.[name]),
    dnsmasq: summarize(typeof results.dnsmasq === 'string' ? results.dnsmasq : results.dnsmasq?.[name]),
  }));
  fs.mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  fs.writeFileSync(RESULTS_FILE, `${JSON.stringify({ cases }, null, 2)}\n`);
}
