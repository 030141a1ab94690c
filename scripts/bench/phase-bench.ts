/**
 * Phone-home benchmark: N simulated nodes each post the full phase sequence
 * over real HTTP to a homeport server process, all at once.
 * Reports acknowledged phase reports per second, p50/p99 latency, and checks
 * after the run that deployment_history holds exactly one row per
 * acknowledged report (zero lost).
 *
 *   node --import tsx scripts/bench/phase-bench.ts [--nodes 1000] [--rounds 5] [--synchronous FULL|NORMAL] [--url postgres://...] [--connection-per-report]
 *
 * --connection-per-report: every report opens a new connection and closes it,
 * as an installer calling curl once per phase does (the default keeps one
 * keep-alive connection per node, opened before the clock). The load then
 * comes from wrk (1,000 connections, `Connection: close`, the nodes' phases
 * in turn, for --seconds), because undici spent more CPU opening connections
 * than the server did answering (measured: ~900 reports/s with the server
 * 60 % busy and every batch a single report).
 *   (make bench-phase)
 *
 * Each round starts a fresh server (and, on SQLite, a fresh database); one
 * line per round, then the median round. The rate on this 2-core VM varies
 * by ±20 % from run to run, so one round proves little.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { openDatabase } from '../../server/store/db.js';
import { freePort } from '../../test/helpers/ports.js';
import { addLoadNodes, LOAD_REPORTS, loadMac, nodePoster, registerLoadNodes, runPhaseLoad } from './phase-load.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    'connection-per-report': { type: 'boolean', default: false },
    seconds: { type: 'string', default: '10' },
    synchronous: { type: 'string', default: 'FULL' },
    url: { type: 'string' },
  },
});
const NODES = Number(values.nodes);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

interface RoundResult {
  reports_per_second: number;
  p50_ms: number;
  p99_ms: number;
  lost: number;
  failed: number;
}

async function main(): Promise<void> {
  const rounds: RoundResult[] = [];
  for (let round = 1; round <= Number(values.rounds); round++) {
    const result = await runRound();
    console.log(JSON.stringify({ round, ...result }));
    rounds.push(result);
  }
  const median = (pick: (r: RoundResult) => number) => {
    const sorted = rounds.map(pick).sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)]!;
  };
  const rates = rounds.map((r) => r.reports_per_second);
  console.log(
    JSON.stringify({
      summary: `median of ${rounds.length} rounds`,
      reports_per_second: median((r) => r.reports_per_second),
      min: Math.min(...rates),
      max: Math.max(...rates),
      p99_ms: median((r) => r.p99_ms),
      lost: rounds.reduce((n, r) => n + r.lost, 0),
      failed: rounds.reduce((n, r) => n + r.failed, 0),
    }),
  );
  if (rounds.some((r) => r.lost !== 0 || r.failed !== 0)) process.exitCode = 1;
}

async function runRound(): Promise<RoundResult> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-bench-'));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOMEPORT_DATADIR: dataDir,
    HOMEPORT_HTTP__HOST: '127.0.0.1',
    HOMEPORT_HTTP__PORT: String(port),
    HOMEPORT_LOG__LEVEL: 'warn',
    HOMEPORT_CONFIG: '',
    HOMEPORT_DATABASE__SYNCHRONOUS: values.synchronous,
  };
  if (values.url) env.DATABASE_URL = values.url;
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", profiles the server.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const server = spawn(
    process.execPath,
    [...nodeArgs, '--import', 'tsx', path.resolve('server/cli/main.ts'), 'serve'],
    { env, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const base = `http://127.0.0.1:${port}`;
  let poster: ReturnType<typeof nodePoster> | null = null;
  try {
    await waitForHealth(base);
    const adminToken = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
    const tokens = await addLoadNodes(base, adminToken, NODES);
    // Every node's connection is open before the clock starts. Connections
    // opened while homeport is saturated wait in the kernel's accept queue
    // (measured: ~440 of 1,000 sat there for seconds, accepted 1-2 per 500 ms
    // until the load eased, with a plain node:http server too), and those
    // registration left idle past the keep-alive timeout reconnect at the
    // start of the load: either way the figure measured the accept queue, not
    // phase reports.
    const registrar = nodePoster(base, tokens);
    try {
      await registerLoadNodes(registrar.post, NODES);
    } finally {
      await registrar.close();
    }
    const rowsBefore = await countHistory(dataDir, values.url);
    let load: LoadResult;
    const cpuBefore = serverCpu(server.pid!);
    if (values['connection-per-report']) load = await wrkLoad(base, tokens, dataDir);
    else {
      poster = nodePoster(base, tokens);
      await poster.connect(Array.from({ length: NODES }, (_, i) => loadMac(i)));
      load = await undiciLoad(poster);
    }
    const cpuAfter = serverCpu(server.pid!);
    const { acknowledged, failed, seconds } = load;
    await stop(server);
    const rows = (await countHistory(dataDir, values.url)) - rowsBefore;
    // wrk stops at its deadline with reports in flight: the server may hold
    // more rows than wrk saw acknowledged, never fewer.
    const lost = Math.max(0, acknowledged - rows);
    const line = {
      db: values.url ? 'postgres' : `sqlite (synchronous=${values.synchronous})`,
      connections: values['connection-per-report'] ? 'one per report' : 'one keep-alive per node',
      nodes: NODES,
      reports: acknowledged + failed,
      acknowledged,
      failed,
      seconds: Number(seconds.toFixed(2)),
      reports_per_second: Math.round(acknowledged / seconds),
      p50_ms: Number(load.p50.toFixed(1)),
      p99_ms: Number(load.p99.toFixed(1)),
      // CPU the server spent per report during the load. Its main thread is the
      // limit: on these 2 cores the rate follows it.
      server_cpu_us_per_report: Math.round(((cpuAfter.process - cpuBefore.process) * 1e6) / (acknowledged + failed)),
      main_thread_cpu_us_per_report: Math.round(
        ((cpuAfter.mainThread - cpuBefore.mainThread) * 1e6) / (acknowledged + failed),
      ),
      history_rows: rows,
      lost,
    };
    return line;
  } finally {
    await poster?.close();
    if (server.exitCode === null) server.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

interface LoadResult {
  acknowledged: number;
  failed: number;
  seconds: number;
  p50: number;
  p99: number;
}

/** Every node posts its 16 reports in order on its own keep-alive connection. */
async function undiciLoad(poster: ReturnType<typeof nodePoster>): Promise<LoadResult> {
  const latencies: number[] = [];
  let acknowledged = 0;
  let failed = 0;
  const started = performance.now();
  await runPhaseLoad(poster.post, NODES, ({ result }) => {
    latencies.push(result.ms);
    if (result.ok) acknowledged++;
    else failed++;
  });
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { acknowledged, failed, seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

/** wrk, a connection per report: each request takes the next node, and each round of nodes the next phase. */
async function wrkLoad(base: string, tokens: ReadonlyMap<string, string>, dir: string): Promise<LoadResult> {
  const nodes = Array.from({ length: NODES }, (_, i) => `{"${loadMac(i)}","${tokens.get(loadMac(i))}"}`).join(',\n');
  const phases = LOAD_REPORTS.map(([phase, status]) => `{"${phase}","${status}"}`).join(',');
  const script = path.join(dir, 'phase.lua');
  fs.writeFileSync(
    script,
    `local nodes = {${nodes}}
local phases = {${phases}}
local i = 0
request = function()
  local n = nodes[(i % #nodes) + 1]
  local p = phases[(math.floor(i / #nodes) % #phases) + 1]
  i = i + 1
  local body = '{"mac":"' .. n[1] .. '","phase":"' .. p[1] .. '","status":"' .. p[2] .. '"}'
  return wrk.format("POST", "/api/status/phase", {["Content-Type"] = "application/json", ["X-Homeport-Token"] = n[2], ["Connection"] = "close"}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %.3f %.3f\\n", summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout, summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
`,
  );
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', ['-t1', `-c${NODES}`, `-d${values.seconds}s`, '--timeout', '10s', '-s', script, base], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    child.stdout.on('data', (c: Buffer) => (text += c.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited with ${code}: ${text}`))));
  });
  const match = /RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)/.exec(output);
  if (!match) throw new Error(`no result from wrk: ${output}`);
  const [requests, non2xx, socketErrors, durationUs, p50, p99] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return { acknowledged: requests - non2xx, failed: non2xx + socketErrors, seconds: durationUs / 1e6, p50, p99 };
}

/** CPU seconds (user + system) of a process and of its main thread, from /proc (Linux). */
function serverCpu(pid: number): { process: number; mainThread: number } {
  const ticks = (statPath: string) => {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = fs.readFileSync(statPath, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  };
  return { process: ticks(`/proc/${pid}/stat`), mainThread: ticks(`/proc/${pid}/task/${pid}/stat`) };
}

/** USER_HZ: 100 on Linux for every architecture homeport runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

async function waitForHealth(base: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) return;
    } catch {
      /* starting */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('homeport did not start');
}

async function stop(server: ReturnType<typeof spawn>): Promise<void> {
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  await exited;
}

/** Phase rows only: registrations write a `registered` row each, which the bench does not count. */
async function countHistory(dataDir: string, url: string | undefined): Promise<number> {
  const db = openDatabase({
    url,
    sqlitePath: path.join(dataDir, 'homeport.sqlite'),
    synchronous: 'FULL',
    busyTimeoutMs: 5000,
  });
  try {
    const [{ n }] = (await db.knex('deployment_history').whereNot('phase', 'registered').count({ n: '*' })) as [
      { n: number | string },
    ];
    return Number(n);
  } finally {
    await db.close();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
