/**
 * Start-time benchmark: from spawning `homeport serve` to the first 200 from
 * /healthz, for the two ways bin/homeport runs the server: the TypeScript
 * sources through the tsx loader (a developer's checkout, the tests) and the
 * compiled dist/ with plain node (`make run`, `make install`); and tsx with no
 * transpile cache. Each round runs every mode, in rotating order; one warm-up
 * run each is not counted (it migrates the database and fills the file cache).
 * Prints the median and p90 (nearest rank) in ms.
 *
 *   make build && node --import tsx scripts/bench/start-bench.ts [--runs 10]
 *
 * Everything runs on loopback with SQLite in a temp dir; every child is ended
 * by PID and the temp dir removed, also on Ctrl-C.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, waitHttp } from './static-http.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '10' } } });
const RUNS = Number(values.runs);
const ROOT = path.resolve(import.meta.dirname, '../..');

const TSX = ['--import', `file://${ROOT}/node_modules/tsx/dist/loader.mjs`, `${ROOT}/server/cli/main.ts`];
/**
 * The two commands bin/homeport execs (see its comment), spelled out so each runs whatever
 * dist/'s state; and tsx without its transpile cache, as the service started before dist/
 * (systemd's PrivateTmp gives each start an empty /tmp, where tsx keeps that cache).
 */
const MODES = {
  'tsx on the sources': { args: TSX, env: {} },
  'tsx, empty cache': { args: TSX, env: { TSX_DISABLE_CACHE: '1' } },
  'node on dist/': { args: ['--enable-source-maps', `${ROOT}/dist/server/cli/main.js`], env: {} },
} as const;
type Mode = keyof typeof MODES;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-start-bench-'));
let running: ChildProcess | undefined;

function cleanup(): void {
  if (running?.exitCode === null) running.kill('SIGKILL');
  fs.rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

/** Milliseconds from spawn to the first 200 from /healthz; the server is stopped before this resolves. */
async function startTime(mode: Mode): Promise<number> {
  const port = await freePort();
  const env = {
    ...process.env,
    HOMEPORT_CONFIG: '',
    HOMEPORT_DATADIR: path.join(work, mode.replace(/\W+/g, '-')),
    HOMEPORT_HTTP__HOST: '127.0.0.1',
    HOMEPORT_HTTP__PORT: String(port),
    HOMEPORT_LOG__LEVEL: 'warn',
    ...MODES[mode].env,
  };
  const started = performance.now();
  const child = spawn(process.execPath, [...MODES[mode].args, 'serve'], {
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  running = child;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    await waitHttp(`http://127.0.0.1:${port}/healthz`, 5);
    return performance.now() - started;
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(ROOT, 'dist/.built'))) throw new Error('no dist/: run `make build` first');
  const modes = Object.keys(MODES) as Mode[];
  const times = new Map<Mode, number[]>(modes.map((m) => [m, []]));
  for (const mode of modes) await startTime(mode);
  for (let run = 0; run < RUNS; run++) {
    // Rotate which goes first, so no mode always follows the same one's shutdown.
    const order = [...modes.slice(run % modes.length), ...modes.slice(0, run % modes.length)];
    for (const mode of order) times.get(mode)!.push(await startTime(mode));
  }
  console.log(`homeport serve -> first 200 from /healthz, ${RUNS} runs each (ms)`);
  console.log(`${'mode'.padEnd(20)}  ${'median'.padStart(7)}  ${'p90'.padStart(7)}`);
  for (const [mode, ms] of times)
    console.log(
      `${mode.padEnd(20)}  ${percentile(ms, 50).toFixed(0).padStart(7)}  ${percentile(ms, 90).toFixed(0).padStart(7)}`,
    );
}

try {
  await main();
} finally {
  cleanup();
}
