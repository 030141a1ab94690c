/**
 * DHCP benchmark: perfdhcp (Debian kea-admin) against dnsmasq and homeport,
 * same machine, same run, inside network namespaces (run as root):
 *   node --import tsx scripts/bench/dhcp-bench.ts [--rate 2000] [--seconds 5] [--clients 10000]
 * Topology: one bridge; the server under test in namespace "srv" (10.78.0.2/16),
 * perfdhcp in "perf" (10.78.0.3/16). perfdhcp always acts as a relay: it sets
 * giaddr to its own address and listens on port 67 there, and a server answers a
 * relayed packet to giaddr:67, so perfdhcp owns 10.78.0.3, which is inside both
 * servers' 10.78.0.0/16 range (the giaddr selects the pool).
 * For each server: perfdhcp offers `rate` DORA exchanges/s, each from one of
 * `clients` MACs chosen at random, for `seconds`; we report completed DORA/s,
 * drops and latency, and check the leases: tcpdump records every ACK in the
 * perfdhcp namespace, and each acknowledged (MAC, address) must be in the
 * server's store after it stops (homeport: the leases table; dnsmasq: its
 * lease file). Then the homeport/dnsmasq ratio.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { MessageType, parseDhcp, readClientRequest } from '../../server/dhcp/codec.js';
import { createLab, sleep, stopChild, waitForOutput, type Lab, type LabHost } from '../../test/helpers/netns.js';
import { readPcapUdp } from '../../test/helpers/pcap.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const SERVER_IP = '10.78.0.2';
const PERF_IP = '10.78.0.3';
const POOL = { start: '10.78.1.0', end: '10.78.200.255', subnetMask: '255.255.0.0' };

interface PerfStats {
  discoversSent: number;
  acksReceived: number;
  drops: number;
  avgDelayMs: { discoverOffer: number; requestAck: number };
}

interface BenchResult extends PerfStats {
  server: string;
  offeredRate: number;
  seconds: number;
  doraPerSecond: number;
  /** Distinct MACs whose ACK tcpdump saw, and how many of them the store lacks or holds with another address. */
  acknowledgedMacs: number;
  storedLeases: number;
  lostLeases: number;
  captureDropped: number;
}

type Running = { stop(): Promise<void> };
/** MAC → address of the leases the server has stored. */
type StoredLeases = Map<string, string>;

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '10000' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const clients = Number(values.clients);

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-dhcp-bench-'));
  const lab = await createLab({ subnet: '10.78.0', prefix: 16 });
  // Interrupted (Ctrl-C, a timeout), still remove the namespaces and their processes.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(
      signal,
      () =>
        void lab
          .destroy()
          .finally(() => fs.rmSync(tmp, { recursive: true, force: true }))
          .finally(() => process.exit(130)),
    );
  }
  try {
    const srv = await lab.addHost('srv', { address: SERVER_IP });
    const perf = await lab.addHost('perf', { address: PERF_IP });
    const dnsmasq = await measure(
      lab,
      perf,
      tmp,
      'dnsmasq',
      () => startDnsmasq(lab, srv, tmp),
      () => dnsmasqLeases(tmp),
    );
    const homeport = await measure(
      lab,
      perf,
      tmp,
      'homeport',
      () => startHomeport(lab, srv, tmp),
      () => homeportLeases(tmp),
    );
    for (const result of [dnsmasq, homeport]) console.log(JSON.stringify(result));
    const ratio = homeport.doraPerSecond / dnsmasq.doraPerSecond;
    const line = (r: BenchResult) =>
      `${r.doraPerSecond.toFixed(0)}/s, ${r.drops} drops, ${r.lostLeases} of ${r.acknowledgedMacs} acknowledged leases missing from the store`;
    console.log(`offered ${rate} DORA/s for ${seconds}s from ${clients} MACs:`);
    console.log(`  dnsmasq  ${line(dnsmasq)}`);
    console.log(`  homeport ${line(homeport)}`);
    console.log(`  ratio homeport/dnsmasq ${ratio.toFixed(2)}`);
    if (dnsmasq.acksReceived === 0 || homeport.acksReceived === 0)
      throw new Error('a server completed no exchange: no valid figure');
    if (homeport.lostLeases > 0 || dnsmasq.lostLeases > 0) process.exitCode = 1;
  } finally {
    await lab.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function measure(
  lab: Lab,
  perf: LabHost,
  tmp: string,
  server: string,
  start: () => Promise<Running>,
  storedLeases: () => Promise<StoredLeases>,
): Promise<BenchResult> {
  const running = await start();
  const pcap = path.join(tmp, `${server}-acks.pcap`);
  let capture: Awaited<ReturnType<typeof captureReplies>> | undefined;
  try {
    capture = await captureReplies(lab, perf, pcap);
    const args = [
      '-4',
      '-l',
      'eth0',
      '-r',
      String(rate),
      '-R',
      String(clients),
      '-p',
      String(seconds),
      '-W',
      '2000000',
      SERVER_IP,
    ];
    const result = await lab.exec(perf.ns, 'perfdhcp', args, { timeoutMs: (seconds + 30) * 1000 });
    const stats = parsePerfdhcp(result.stdout);
    await sleep(500);
    const captureDropped = await capture.stop();
    await running.stop();
    const acked = acknowledgedLeases(pcap);
    const stored = await storedLeases();
    const lost = [...acked].filter(([mac, ip]) => stored.get(mac) !== ip).length;
    return {
      server,
      offeredRate: rate,
      seconds,
      ...stats,
      doraPerSecond: stats.acksReceived / seconds,
      acknowledgedMacs: acked.size,
      storedLeases: stored.size,
      lostLeases: lost,
      captureDropped,
    };
  } finally {
    await capture?.stop();
    await running.stop();
  }
}

/** tcpdump in the perfdhcp namespace, recording the server's replies; stop() returns the packets the kernel dropped. */
async function captureReplies(lab: Lab, perf: LabHost, pcap: string): Promise<{ stop(): Promise<number> }> {
  const child = lab.spawn(perf.ns, 'tcpdump', [
    '-i',
    perf.ifname,
    '-n',
    '-U',
    '-B',
    '16384',
    '-w',
    pcap,
    `udp and src host ${SERVER_IP} and dst port 67`,
  ]);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  for (let waited = 0; !stderr.includes('listening on'); waited += 50) {
    if (waited > 10_000 || child.exitCode !== null) throw new Error(`tcpdump did not start: ${stderr}`);
    await sleep(50);
  }
  return {
    async stop() {
      await stopChild(child);
      return Number(/(\d+) packets? dropped by kernel/.exec(stderr)?.[1] ?? 0);
    },
  };
}

/** The last ACK per MAC in the capture: MAC → acknowledged address. */
function acknowledgedLeases(pcap: string): Map<string, string> {
  const acked = new Map<string, string>();
  for (const datagram of readPcapUdp(pcap)) {
    const parsed = parseDhcp(datagram.payload);
    if (!parsed.ok) continue;
    const client = readClientRequest(parsed.packet);
    if (client.messageType === MessageType.ACK && client.mac) acked.set(client.mac, parsed.packet.yiaddr);
  }
  return acked;
}

/**
 * perfdhcp prints a block per exchange: "***Statistics for: DISCOVER-OFFER***" then
 * "sent packets: N", "received packets: N", "drops: N", ..., "avg delay: X ms".
 */
function parsePerfdhcp(output: string): PerfStats {
  const blocks = output.split('***Statistics for: ');
  const doBlock = blocks[1] ?? '';
  const raBlock = blocks[2] ?? '';
  if (!doBlock || !raBlock) throw new Error(`unexpected perfdhcp output:\n${output}`);
  const number = (text: string, label: string) => Number(new RegExp(`${label}: ([\\d.]+)`).exec(text)?.[1] ?? NaN);
  return {
    discoversSent: number(doBlock, 'sent packets'),
    acksReceived: number(raBlock, 'received packets'),
    drops: number(doBlock, 'drops') + number(raBlock, 'drops'),
    avgDelayMs: { discoverOffer: number(doBlock, 'avg delay'), requestAck: number(raBlock, 'avg delay') },
  };
}

async function startDnsmasq(lab: Lab, srv: LabHost, tmp: string): Promise<Running> {
  const child = lab.spawn(srv.ns, 'dnsmasq', [
    '--no-daemon',
    '--conf-file=/dev/null',
    '--port=0',
    '--interface=eth0',
    '--bind-interfaces',
    `--dhcp-range=${POOL.start},${POOL.end},${POOL.subnetMask},1h`,
    '--dhcp-lease-max=100000',
    // dnsmasq pings an address before offering it and offers only after no echo
    // came back (seconds), past perfdhcp's 1 s drop time: every exchange was a
    // drop. homeport does not ping either, so both answer on the same terms.
    '--no-ping',
    `--dhcp-leasefile=${tmp}/dnsmasq.leases`,
    '--user=root',
    '--group=root',
  ]);
  child.stderr?.resume();
  await sleep(1000);
  return { stop: () => stopChild(child) };
}

async function startHomeport(lab: Lab, srv: LabHost, tmp: string): Promise<Running> {
  const config = {
    mode: 'full',
    interface: 'eth0',
    serverIp: SERVER_IP,
    httpBaseUrl: `http://${SERVER_IP}:8080`,
    sqlitePath: path.join(tmp, 'homeport.sqlite'),
    logLevel: 'warn',
    pool: { ...POOL, leaseSeconds: 3600 },
  };
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = lab.spawn(
    srv.ns,
    process.execPath,
    [...nodeArgs, '--import', 'tsx', 'test/helpers/dhcp-runner.ts', JSON.stringify(config)],
    { cwd: REPO },
  );
  child.stderr?.pipe(process.stderr);
  await waitForOutput(child, /^ready$/, 30_000);
  child.stdout?.resume();
  return { stop: () => stopChild(child, 10_000) };
}

/** dnsmasq's lease file: "expiry mac ip hostname client-id" per line. */
async function dnsmasqLeases(tmp: string): Promise<StoredLeases> {
  const lines = fs.readFileSync(path.join(tmp, 'dnsmasq.leases'), 'utf8').split('\n').filter(Boolean);
  return new Map(lines.map((line) => line.split(' ')).map(([, mac, ip]) => [mac ?? '', ip ?? '']));
}

async function homeportLeases(tmp: string): Promise<StoredLeases> {
  const { openDatabase } = await import('../../server/store/db.js');
  const db = openDatabase({ sqlitePath: path.join(tmp, 'homeport.sqlite'), synchronous: 'FULL', busyTimeoutMs: 5000 });
  try {
    const rows = (await db.knex('leases').where({ state: 'bound' }).select('mac', 'ip')) as {
      mac: string;
      ip: string;
    }[];
    return new Map(rows.map((row) => [row.mac, row.ip]));
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
