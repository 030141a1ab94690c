/**
 * Asset streaming benchmark (a boot storm's bytes): N concurrent curl downloads
 * of one file from homeport's /assets/ next to nginx (one worker, sendfile)
 * serving the same file, in the same run, rounds alternating which server goes
 * first. Prints MiB/s per server per round, the medians and their ratio, and
 * homeport's peak RSS during its downloads.
 *
 *   node --import tsx scripts/bench/asset-bench.ts [--clients 50] [--mib 32] [--rounds 3]
 *
 * Everything runs on loopback; every child is ended by PID and the temp dir
 * removed, also on Ctrl-C. Needs nginx and curl (scripts/setup/packages-test.txt).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, startNginx, waitHttp, writeRandomFile } from './static-http.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '50' },
    mib: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
  },
});
const CLIENTS = Number(values.clients);
const MIB = Number(values.mib);
const ROUNDS = Number(values.rounds);
const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-asset-bench-'));
fs.chmodSync(work, 0o755); // nginx workers run as nobody
const children: ChildProcess[] = [];

function cleanup(): void {
  for (const child of children) if (child.exitCode === null) child.kill('SIGTERM');
  fs.rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});

function writeAsset(): string {
  const dir = path.join(work, 'www');
  writeRandomFile(path.join(dir, 'bench', 'initrd.img'), MIB);
  return dir;
}

async function startHomeport(root: string): Promise<{ base: string; pid: number }> {
  const port = await freePort();
  const env = {
    ...process.env,
    HOMEPORT_CONFIG: '',
    HOMEPORT_DATADIR: path.join(work, 'data'),
    HOMEPORT_HTTP__HOST: '127.0.0.1',
    HOMEPORT_HTTP__PORT: String(port),
    HOMEPORT_LOG__LEVEL: 'warn',
    HOMEPORT_BOOT__ASSETSDIR: root,
  };
  const child = spawn(path.join(ROOT, 'bin/homeport'), ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(`${base}/healthz`);
  return { base, pid: child.pid! };
}

/** Peak resident set of a process (and its children: bin/homeport execs node) while `during` runs. */
async function peakRss(pid: number, during: Promise<number>): Promise<{ result: number; peakMiB: number }> {
  let peak = 0;
  const sample = () => {
    for (const p of [pid, ...childPids(pid)]) {
      try {
        const rss = Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
        peak = Math.max(peak, rss / 1024);
      } catch {
        // gone
      }
    }
  };
  sample();
  const timer = setInterval(sample, 100);
  try {
    const result = await during;
    sample();
    return { result, peakMiB: peak };
  } finally {
    clearInterval(timer);
  }
}

function childPids(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** CLIENTS concurrent curl downloads; resolves to MiB/s over the wall time, after checking every byte count. */
async function storm(url: string): Promise<number> {
  const started = performance.now();
  const sizes = await Promise.all(
    Array.from(
      { length: CLIENTS },
      () =>
        new Promise<number>((resolve, reject) => {
          const curl = spawn('curl', [
            '-sS',
            '-o',
            '/dev/null',
            '--max-time',
            '300',
            '-w',
            '%{size_download} %{http_code}',
            url,
          ]);
          children.push(curl);
          let out = '';
          curl.stdout.on('data', (c: Buffer) => (out += c.toString()));
          curl.on('close', (code) =>
            code === 0 && out.endsWith(' 200')
              ? resolve(Number(out.split(' ')[0]))
              : reject(new Error(`curl ${url} exited ${code}: ${out}`)),
          );
        }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const expected = MIB * 1024 * 1024;
  if (sizes.some((s) => s !== expected))
    throw new Error(`short download from ${url}: ${sizes.filter((s) => s !== expected).join(', ')}`);
  return (CLIENTS * MIB) / seconds;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const root = writeAsset();
  const nginx = await startNginx(
    work,
    root,
    children,
    '/assets/bench/initrd.img',
    `location /assets/ { alias ${root}/; }`,
  );
  const homeport = await startHomeport(root);
  const urls = { homeport: `${homeport.base}/assets/bench/initrd.img`, nginx: `${nginx}/assets/bench/initrd.img` };
  await storm(urls.homeport); // warm-up: page cache and JIT
  await storm(urls.nginx);
  const rates: Record<'homeport' | 'nginx', number[]> = { homeport: [], nginx: [] };
  let peak = 0;
  console.log(`${CLIENTS} concurrent downloads of ${MIB} MiB, ${ROUNDS} rounds (order alternates)`);
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? (['homeport', 'nginx'] as const) : (['nginx', 'homeport'] as const);
    for (const name of order) {
      if (name === 'homeport') {
        const { result, peakMiB } = await peakRss(homeport.pid, storm(urls.homeport));
        rates.homeport.push(result);
        peak = Math.max(peak, peakMiB);
      } else {
        rates.nginx.push(await storm(urls.nginx));
      }
    }
    console.log(
      `round ${round + 1}: homeport ${rates.homeport.at(-1)!.toFixed(0)} MiB/s, nginx ${rates.nginx.at(-1)!.toFixed(0)} MiB/s`,
    );
  }
  const ratio = median(rates.homeport) / median(rates.nginx);
  console.log(
    `median: homeport ${median(rates.homeport).toFixed(0)} MiB/s, nginx ${median(rates.nginx).toFixed(0)} MiB/s, ratio ${ratio.toFixed(2)}; homeport peak RSS ${peak.toFixed(0)} MiB; load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(cleanup);
