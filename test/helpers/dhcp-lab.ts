/**
 * DHCP tests in a lab (test/helpers/netns.ts): homeport's DHCP server as a
 * child process in the switch namespace, real clients (dhclient, udhcpc) and
 * raw probes in host namespaces, and the lease store read back.
 */
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { migrateLatest, openDatabase } from '../../server/store/db.js';
import type { ProbeReply, ProbeSpec } from './dhcp-probe.js';
import { runOk, stopChild, waitForOutput, type Lab, type LabHost } from './netns.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const RUNNER = path.join(REPO, 'test/helpers/dhcp-runner.ts');
const PROBE = path.join(REPO, 'test/helpers/dhcp-probe.ts');

export interface DhcpRunner {
  child: ChildProcess;
  logs: () => LogLine[];
  stop(): Promise<void>;
}

export interface LogLine {
  msg: string;
  type?: string;
  mac?: string;
  yiaddr?: string;
  file?: string;
  reason?: string;
  ciaddr?: string;
  giaddr?: string;
  agentInfo?: string;
}

/** Starts test/helpers/dhcp-runner.ts inside the switch namespace; resolves once it listens. */
export async function startDhcpRunner(lab: Lab, config: Record<string, unknown>): Promise<DhcpRunner> {
  const child = lab.spawn(
    lab.ns,
    process.execPath,
    ['--import', 'tsx', RUNNER, JSON.stringify({ logLevel: 'debug', ...config })],
    { cwd: REPO },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await waitForOutput(child, /^ready$/, 30_000);
  } catch (err) {
    throw new Error(`homeport did not start: ${String(err)}\n${stderr}`, { cause: err });
  }
  const logs = () =>
    stderr
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as LogLine);
  return { child, logs, stop: () => stopChild(child) };
}

export async function probe(lab: Lab, host: LabHost, spec: ProbeSpec): Promise<ProbeReply[]> {
  const result = await lab.exec(host.ns, process.execPath, ['--import', 'tsx', PROBE, JSON.stringify(spec)], {
    timeoutMs: spec.waitMs + 20_000,
  });
  if (result.code !== 0) throw new Error(`probe failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim()) as ProbeReply[];
}

/** A host with a fixed address and a default route, so it can broadcast from a plain UDP socket. */
export async function probeHost(lab: Lab, label: string, address: string): Promise<LabHost> {
  const host = await lab.addHost(label, { address });
  await runOk('ip', ['-n', host.ns, 'route', 'add', 'default', 'dev', 'eth0']);
  return host;
}

export interface DhclientLease {
  address?: string;
  filename?: string;
  serverId?: string;
  nextServer?: string;
}

/** isc dhclient, one attempt, configuring nothing (-sf /bin/true); returns the lease it wrote. */
export async function dhclient(
  lab: Lab,
  host: LabHost,
  dir: string,
  confLines: string[],
  leaseFileSeed = '',
): Promise<DhclientLease> {
  const conf = path.join(dir, `${host.ns}.conf`);
  const leases = path.join(dir, `${host.ns}.leases`);
  const pidFile = path.join(dir, `${host.ns}.pid`);
  fs.writeFileSync(conf, ['timeout 12;', 'retry 1;', ...confLines, ''].join('\n'));
  fs.writeFileSync(leases, leaseFileSeed);
  const result = await lab.exec(
    host.ns,
    'dhclient',
    ['-1', '-v', '-cf', conf, '-sf', '/bin/true', '-lf', leases, '-pf', pidFile, 'eth0'],
    { timeoutMs: 30_000 },
  );
  await killByPidFile(pidFile); // dhclient daemonises once bound; that daemon is ours
  if (result.code !== 0) throw new Error(`dhclient failed (${result.code}): ${result.stderr}`);
  const text = fs.readFileSync(leases, 'utf8');
  const last = text.slice(text.lastIndexOf('lease {'));
  const pick = (re: RegExp) => re.exec(last)?.[1];
  return {
    address: pick(/fixed-address ([\d.]+);/),
    filename: pick(/filename "([^"]*)";/),
    serverId: pick(/option dhcp-server-identifier ([\d.]+);/),
    nextServer: pick(/next-server ([\d.]+);/),
  };
}

async function killByPidFile(pidFile: string): Promise<void> {
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  if (pid > 0) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** busybox udhcpc, foreground, quits once bound; returns the environment its script saw at "bound". */
export async function udhcpc(lab: Lab, host: LabHost, dir: string, args: string[]): Promise<Record<string, string>> {
  const envFile = path.join(dir, `${host.ns}-udhcpc.env`);
  const script = writeUdhcpcScript(dir, envFile);
  const result = await lab.exec(
    host.ns,
    'udhcpc',
    ['-i', 'eth0', '-n', '-q', '-f', '-t', '4', '-T', '2', '-s', script, ...args],
    { timeoutMs: 40_000 },
  );
  if (result.code !== 0 || !fs.existsSync(envFile))
    throw new Error(`udhcpc got no lease (${result.code}): ${result.stderr}`);
  return readEnvFile(envFile);
}

/** A udhcpc script that configures the address like the stock one (inside the client namespace) and saves its environment at "bound". */
export function writeUdhcpcScript(dir: string, envFile: string): string {
  const script = path.join(dir, `udhcpc-${path.basename(envFile)}.sh`);
  const lines = [
    '#!/bin/sh',
    'case "$1" in',
    '  deconfig) ip addr flush dev "$interface" ;;',
    `  bound) ip addr add "$ip/$mask" dev "$interface"; env > "${envFile}" ;;`,
    'esac',
    'exit 0',
  ];
  fs.writeFileSync(script, `${lines.join('\n')}\n`, { mode: 0o755 });
  fs.rmSync(envFile, { force: true });
  return script;
}

export function readEnvFile(envFile: string): Record<string, string> {
  const lines = fs
    .readFileSync(envFile, 'utf8')
    .split('\n')
    .filter((line) => line.includes('='));
  return Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

export async function withStore<T>(
  sqlitePath: string,
  use: (knex: ReturnType<typeof openDatabase>['knex']) => Promise<T>,
): Promise<T> {
  const db = openDatabase({ sqlitePath, synchronous: 'FULL', busyTimeoutMs: 5000 });
  try {
    await migrateLatest(db.knex);
    return await use(db.knex);
  } finally {
    await db.close();
  }
}

export function leaseStates(sqlitePath: string): Promise<Map<string, { ip: string; state: string }>> {
  return withStore(sqlitePath, async (knex) => {
    const rows = (await knex('leases').select('mac', 'ip', 'state')) as { mac: string; ip: string; state: string }[];
    return new Map(rows.map((r) => [r.mac, { ip: r.ip, state: r.state }]));
  });
}
