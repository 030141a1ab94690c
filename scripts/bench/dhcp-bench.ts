/**
 * DHCP benchmark: perfdhcp (Debian kea-admin) against dnsmasq and homeport,
 * same machine, same run, inside network namespaces (run as root):
 *   node --import tsx scripts/bench/dhcp-bench.ts [--rate 4000] [--seconds 5] [--clients 10000]
 * Topology: one bridge; the server under test in namespace "srv" (10.78.0.2/16),
 * perfdhcp in "perf" (10.78.0.3/16). perfdhcp always acts as a relay (giaddr =
 * its address, replies to giaddr:67), so it cannot share a namespace with a server.
 * For each server: perfdhcp offers `rate` DORA exchanges/s from `clients` distinct
 * MACs for `seconds`; we report completed DORA/s, drops, and bound leases in the
 * server's store, then the homeport/dnsmasq ratio.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLab, sleep, stopChild, waitForOutput, type Lab, type LabHost } from '../../test/helpers/netns';

const REPO = path.resolve(import.meta.dirname, '../..');
const SERVER_IP = '10.78.0.2';
const POOL = { start: '10.78.1.0', end: '10.78.200.255', subnetMask: '255.255.0.0' };

interface PerfResult {
  server: string;
  offeredRate: number;
  seconds: number;
  discoversSent: number;
  acksReceived: number;
  drops: number;
  doraPerSecond: number;
  boundLeases: number;
}

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '4000' },
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
  try {
    const srv = await lab.addHost('srv', { address: SERVER_IP });
    const perf = await lab.addHost('perf', { address: '10.78.0.3' });
    const dnsmasq = await measure(lab, perf, 'dnsmasq', () => startDnsmasq(lab, srv, tmp), () => countDnsmasqLeases(tmp));
    const homeport = await measure(lab, perf, 'homeport', () => startHomeport(lab, srv, tmp), () => countHomeportLeases(tmp));
    for (const result of [dnsmasq, homeport]) console.log(JSON.stringify(result));
    const ratio = homeport.doraPerSecond / dnsmasq.doraPerSecond;
    console.log(
      `offered ${rate} DORA/s for ${seconds}s from ${clients} MACs: dnsmasq ${dnsmasq.doraPerSecond.toFixed(0)}/s ` +
        `(${dnsmasq.drops} drops), homeport ${homeport.doraPerSecond.toFixed(0)}/s (${homeport.drops} drops), ratio ${ratio.toFixed(2)}`,
    );
  } finally {
    await lab.destroy();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function measure(
  lab: Lab,
  perf: LabHost,
  server: string,
  start: () => Promise<{ stop(): Promise<void> }>,
  countLeases: () => Promise<number>,
): Promise<PerfResult> {
  const running = await start();
  try {
    const args = ['-4', '-l', 'eth0', '-r', String(rate), '-R', String(clients), '-p', String(seconds), '-W', '2000000', SERVER_IP];
    const result = await lab.exec(perf.ns, 'perfdhcp', args, { timeoutMs: (seconds + 30) * 1000 });
    const stats = parsePerfdhcp(result.stdout);
    await sleep(500);
    await running.stop();
    return { server, offeredRate: rate, seconds, ...stats, doraPerSecond: stats.acksReceived / seconds, boundLeases: await countLeases() };
  } finally {
    await running.stop();
  }
}

/** perfdhcp prints a block per exchange: "***Statistics for: DISCOVER-OFFER***" then "sent packets: N", "received packets: N", "drops: N". */
function parsePerfdhcp(output: string): { discoversSent: number; acksReceived: number; drops: number } {
  const block = (name: string) => output.split('***Statistics for: ')[name === 'DO' ? 1 : 2] ?? '';
  const number = (text: string, label: string) => Number(new RegExp(`${label}: (\\d+)`).exec(text)?.[1] ?? NaN);
  const doBlock = block('DO');
  const raBlock = block('RA');
  if (!doBlock || !raBlock) throw new Error(`unexpected perfdhcp output:\n${output}`);
  return {
    discoversSent: number(doBlock, 'sent packets'),
    acksReceived: number(raBlock, 'received packets'),
    drops: number(doBlock, 'drops') + number(raBlock, 'drops'),
  };
}

async function startDnsmasq(lab: Lab, srv: LabHost, tmp: string): Promise<{ stop(): Promise<void> }> {
  const child = lab.spawn(srv.ns, 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--interface=eth0', '--bind-interfaces',
    `--dhcp-range=${POOL.start},${POOL.end},${POOL.subnetMask},1h`, '--dhcp-lease-max=100000',
    `--dhcp-leasefile=${tmp}/dnsmasq.leases`, '--user=root', '--group=root',
  ]);
  child.stderr?.resume();
  await sleep(1000);
  return { stop: () => stopChild(child) };
}

async function startHomeport(lab: Lab, srv: LabHost, tmp: string): Promise<{ stop(): Promise<void> }> {
  const config = {
    mode: 'full',
    interface: 'eth0',
    serverIp: SERVER_IP,
    httpBaseUrl: `http://${SERVER_IP}:8080`,
    sqlitePath: path.join(tmp, 'homeport.sqlite'),
    logLevel: 'warn',
    pool: { ...POOL, leaseSeconds: 3600 },
  };
  const child = lab.spawn(srv.ns, process.execPath, ['--import', 'tsx', 'test/helpers/dhcp-runner.ts', JSON.stringify(config)], { cwd: REPO });
  child.stderr?.pipe(process.stderr);
  await waitForOutput(child, /^ready$/, 30_000);
  return { stop: () => stopChild(child) };
}

async function countDnsmasqLeases(tmp: string): Promise<number> {
  return fs.readFileSync(path.join(tmp, 'dnsmasq.leases'), 'utf8').split('\n').filter(Boolean).length;
}

async function countHomeportLeases(tmp: string): Promise<number> {
  const { openDatabase } = await import('../../server/store/db');
  const db = openDatabase({ sqlitePath: path.join(tmp, 'homeport.sqlite'), synchronous: 'FULL', busyTimeoutMs: 5000 });
  try {
    const [row] = (await db.knex('leases').where({ state: 'bound' }).count({ n: '*' })) as { n: number }[];
    return Number(row?.n ?? 0);
  } finally {
    await db.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
