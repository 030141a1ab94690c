/**
 * TFTP benchmark: homeport against the reference tftpd-hpa (Debian's in.tftpd),
 * same machine, same run, on 127.0.0.1 and unprivileged ports:
 *   node --import tsx scripts/bench/tftp-bench.ts [--clients 1,10,50] [--sizes 1,32] [--blksizes 512,1468] [--repeat 3] [--workers N] [--skip-window] [--ceiling]
 *
 * 1. N concurrent real clients (curl, lock-step with --tftp-blksize: what PXE
 *    firmware does) fetch a file of each size; aggregate MB/s = N × size / wall time.
 * 2. One 32 MiB transfer with atftp: windowsize 16 (blksize 1468) against
 *    lock-step 512-byte blocks (tftpd-hpa 5.2 has no windowsize).
 * --ceiling adds a third server to the concurrent rows: the least a TFTP
 *    server on Node's dgram can do per block (scripts/bench/tftp-bare.ts).
 * The servers run as child processes started and killed (by pid) here, and
 * each serves a few warm-up transfers before anything is measured.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Registry } from 'prom-client';
import { startTftpServer } from '../../server/tftp/server.js';
import { clients, freeUdpPort, run, writeRandomFile } from '../../test/tftp/helpers.js';

const MiB = 1024 * 1024;
const CLIENT_TIMEOUT_MS = 300_000;

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1,10,50' },
    sizes: { type: 'string', default: '1,32' },
    blksizes: { type: 'string', default: '512,1468' },
    workers: { type: 'string' },
    repeat: { type: 'string', default: '3' },
    'skip-window': { type: 'boolean', default: false }, // only the concurrent rows
    ceiling: { type: 'boolean', default: false },
    serve: { type: 'string' }, // internal: "PORT:DIR", run homeport's server in this process
  },
});
const list = (csv: string) => csv.split(',').map(Number);

/** Counters the homeport child reports after each measurement, to see retransmissions and failures. */
interface ServerStats {
  blocksRetransmitted: number;
  transfers: Record<string, number>;
}

async function statsOf(registry: Registry): Promise<ServerStats> {
  const metrics = await registry.getMetricsAsJSON();
  const values = (name: string) => metrics.find((m) => m.name === name)?.values ?? [];
  const transfers: Record<string, number> = {};
  for (const v of values('homeport_tftp_transfers_total')) transfers[String(v.labels.outcome)] = v.value;
  return { blocksRetransmitted: values('homeport_tftp_blocks_retransmitted_total')[0]?.value ?? 0, transfers };
}

/** Child mode: homeport's TFTP server alone in its process, like in.tftpd; a "stats" line on stdin prints its counters. */
async function serve(spec: string): Promise<void> {
  const [port = '', dir = ''] = spec.split(':');
  const registry = new Registry();
  const server = await startTftpServer({
    host: '127.0.0.1',
    port: Number(port),
    roots: [dir],
    log: pino({ level: 'warn' }, pino.destination(2)), // stdout carries the ready and stats lines
    registry,
    workers: values.workers === undefined ? undefined : Number(values.workers),
  });
  process.stdin.on(
    'data',
    () => void statsOf(registry).then((stats) => process.stdout.write(`${JSON.stringify(stats)}\n`)),
  );
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

interface Server {
  name: string;
  port: number;
  child: ChildProcess;
}

async function startHomeport(dir: string): Promise<Server> {
  const port = await freeUdpPort();
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server (its worker threads too).
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...nodeArgs, '--import', 'tsx', import.meta.filename, '--serve', `${port}:${dir}`];
  if (values.workers !== undefined) args.push('--workers', values.workers);
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('homeport did not start in 20 s')), 20_000);
    child.stdout?.once('data', (chunk: Buffer) => {
      clearTimeout(timer);
      if (chunk.toString().includes('ready')) resolve();
      else reject(new Error(`homeport said ${chunk.toString()}`));
    });
    child.once('exit', (code) => reject(new Error(`homeport exited with ${code}`)));
  });
  return { name: 'homeport', port, child };
}

/** The homeport child's counters so far. */
async function homeportStats(server: Server): Promise<ServerStats> {
  const line = new Promise<string>((resolve) =>
    server.child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString())),
  );
  server.child.stdin?.write('stats\n');
  return JSON.parse(await line) as ServerStats;
}

async function startReference(dir: string): Promise<Server> {
  const port = await freeUdpPort();
  // -L: stay in the foreground, so that this pid is the server's; -s: chroot to dir.
  return startProbed(
    'tftpd-hpa',
    port,
    spawn('in.tftpd', ['-L', '-s', dir, '-a', `127.0.0.1:${port}`], { stdio: 'inherit' }),
  );
}

/** The bare Node dgram server (the ceiling for any Node TFTP server). */
async function startCeiling(dir: string): Promise<Server> {
  const port = await freeUdpPort();
  return startProbed(
    'bare-node',
    port,
    spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'tftp-bare.ts'), String(port), dir], {
      stdio: 'inherit',
    }),
  );
}

/** Waits until a started server serves a file. */
async function startProbed(name: string, port: number, child: ChildProcess): Promise<Server> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const probe = await run(...clients.curl(port, 'probe', '/dev/null'), 5_000);
    if (probe.code === 0) return { name, port, child };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill();
  throw new Error(`${name} did not answer`);
}

function stop(server: Server): void {
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
}

/** Runs the clients at once; returns aggregate MB/s, after checking every client got every byte. */
async function measure(
  commands: [string, string[]][],
  bytesEach: number,
  received: (i: number, stdout: string) => number,
): Promise<number> {
  const started = performance.now();
  const results = await Promise.all(commands.map(([command, args]) => run(command, args, CLIENT_TIMEOUT_MS)));
  const seconds = (performance.now() - started) / 1000;
  results.forEach((result, i) => {
    if (result.code !== 0 || received(i, result.stdout) !== bytesEach) {
      throw new Error(`client ${i} failed (exit ${result.code}): ${result.stderr.trim()} ${result.stdout}`);
    }
  });
  return (commands.length * bytesEach) / MiB / seconds;
}

interface Row {
  scenario: string;
  homeport: number;
  reference: number | undefined;
  /** The bare Node server (--ceiling). */
  ceiling?: number;
}

function printTable(rows: Row[]): void {
  const header = ['scenario', 'homeport MB/s', 'tftpd-hpa MB/s', 'ratio', 'bare Node MB/s', 'bare/tftpd-hpa'];
  const ratio = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? '-' : (a / b).toFixed(2);
  const lines = rows.map((r) => [
    r.scenario,
    r.homeport.toFixed(1),
    r.reference === undefined ? '-' : r.reference.toFixed(1),
    ratio(r.homeport, r.reference),
    r.ceiling === undefined ? '-' : r.ceiling.toFixed(1),
    ratio(r.ceiling, r.reference),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]?.length ?? 0)));
  const format = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(format(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const line of lines) console.log(format(line));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** One server's aggregate MB/s for `count` clients; for homeport also the blocks it had to send again. */
async function concurrentRun(
  server: Server,
  count: number,
  size: number,
  blksize: number,
): Promise<{ rate: number; retransmitted?: number }> {
  const before = server.name === 'homeport' ? await homeportStats(server) : undefined;
  const commands = Array.from({ length: count }, () => clients.curl(server.port, `${size}m.bin`, '/dev/null', blksize));
  const rate = await measure(commands, size * MiB, (_, stdout) => Number(stdout));
  if (!before) return { rate };
  const after = await homeportStats(server);
  return { rate, retransmitted: after.blocksRetransmitted - before.blocksRetransmitted };
}

/** Each row is measured `repeat` times per server, alternating which goes first; the median counts. */
async function concurrentRows(
  servers: Server[],
  sizes: number[],
  blksizes: number[],
  counts: number[],
  repeat: number,
): Promise<Row[]> {
  const rows: Row[] = [];
  let runs = 0;
  for (const size of sizes) {
    for (const blksize of blksizes) {
      for (const count of counts) {
        const rates = new Map<string, number[]>(servers.map((s) => [s.name, []]));
        let retransmitted = 0;
        for (let i = 0; i < repeat; i++) {
          // Alternate which server goes first, so that neither always meets a warmer machine.
          const order = runs++ % 2 === 0 ? servers : [...servers].reverse();
          for (const server of order) {
            const result = await concurrentRun(server, count, size, blksize);
            rates.get(server.name)?.push(result.rate);
            retransmitted += result.retransmitted ?? 0;
          }
        }
        const row = {
          scenario: `${count} x ${size} MiB, blksize ${blksize} (curl)`,
          homeport: median(rates.get('homeport') ?? []),
          reference: rates.has('tftpd-hpa') ? median(rates.get('tftpd-hpa') ?? []) : undefined,
          ceiling: rates.has('bare-node') ? median(rates.get('bare-node') ?? []) : undefined,
        };
        const runsOf = (name: string) => (rates.get(name) ?? []).map((r) => r.toFixed(1)).join(' ');
        console.error(
          `  ${row.scenario}: homeport ${runsOf('homeport')} MB/s (${retransmitted} blocks retransmitted), tftpd-hpa ${runsOf('tftpd-hpa')} MB/s${rates.has('bare-node') ? `, bare Node ${runsOf('bare-node')} MB/s` : ''}`,
        );
        rows.push(row);
      }
    }
  }
  return rows;
}

async function windowRows(homeport: Server, reference: Server, tmp: string): Promise<Row[]> {
  const out = path.join(tmp, 'out.bin');
  const size = () => fs.statSync(out).size;
  const single = (server: Server, options: Record<string, number>) =>
    measure([clients.atftp(server.port, '32m.bin', out, options)], 32 * MiB, size);
  const lockstepHomeport = await single(homeport, {});
  const lockstepReference = await single(reference, {});
  const windowed = await single(homeport, { blksize: 1468, windowsize: 16 });
  const windowed512 = await single(homeport, { blksize: 512, windowsize: 16 });
  fs.rmSync(out, { force: true });
  return [
    { scenario: '1 x 32 MiB, lock-step 512 (atftp)', homeport: lockstepHomeport, reference: lockstepReference },
    { scenario: '1 x 32 MiB, blksize 512 windowsize 16 (atftp)', homeport: windowed512, reference: undefined },
    { scenario: '1 x 32 MiB, blksize 1468 windowsize 16 (atftp)', homeport: windowed, reference: undefined },
    {
      scenario: '  windowsize 16 / lock-step 512, homeport',
      homeport: windowed / lockstepHomeport,
      reference: undefined,
    },
  ];
}

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-tftp-bench-'));
  const dir = path.join(tmp, 'root');
  fs.mkdirSync(dir);
  fs.chmodSync(tmp, 0o755); // in.tftpd drops to user nobody
  fs.chmodSync(dir, 0o755);
  const servers: Server[] = [];
  try {
    fs.writeFileSync(path.join(dir, 'probe'), 'probe');
    for (const size of new Set([...list(values.sizes), 32]))
      writeRandomFile(path.join(dir, `${size}m.bin`), size * MiB);
    for (const file of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, file), 0o644);
    servers.push(await startHomeport(dir), await startReference(dir));
    if (values.ceiling) servers.push(await startCeiling(dir));
    const [homeport, reference] = servers as [Server, Server];
    // A long-running server is warm: let both serve a few transfers (JIT, page cache) before measuring.
    for (const server of servers) {
      for (const blksize of list(values.blksizes)) {
        const warmUp = Array.from({ length: 8 }, () => clients.curl(server.port, '32m.bin', '/dev/null', blksize));
        await measure(warmUp, 32 * MiB, (_, stdout) => Number(stdout));
      }
    }
    console.error(
      `homeport on :${homeport.port} (workers: ${values.workers ?? `one per core, ${os.availableParallelism()}`}), tftpd-hpa on :${reference.port}${values.ceiling ? `, bare Node on :${servers[2]!.port}` : ''}`,
    );
    const rows = await concurrentRows(
      servers,
      list(values.sizes),
      list(values.blksizes),
      list(values.clients),
      Number(values.repeat),
    );
    if (!values['skip-window']) rows.push(...(await windowRows(homeport, reference, tmp)));
    printTable(rows);
  } finally {
    servers.forEach(stop);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (values.serve !== undefined) await serve(values.serve);
else await main();
