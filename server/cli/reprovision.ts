import fs from 'node:fs';
import { Command, InvalidArgumentError, type Option } from 'commander';
import { ConfigError, loadConfig } from '../config/load';
import type { Config } from '../config/schema';
import { CliExit, EXIT } from './exit';
import { elapsed, nodeState, plainLine, ttyBlock, waitVerdict, type WatchedCluster, type WatchedNode } from './progress';

/**
 * `homeport reprovision` and `homeport clusters`: clients of a running
 * server's admin API (seed 000's coordinated reprovision script), with the
 * admin token from $HOMEPORT_ADMIN_TOKEN or the data dir's admin.token.
 */
interface ApiOptions {
  config?: string;
  url?: string;
}

interface Api {
  call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

const DEFAULT_WAIT_MIN = 60; // seed 000: overall workflow timeout

export function registerReprovisionCommands(program: Command, configOption: () => Option): void {
  program
    .command('reprovision')
    .description('reinstall nodes: in_progress, netboot on, restart (reprovision.method); --wait follows them until clustered')
    .addOption(configOption())
    .option('--all', 'every configured node (not discovered ones)')
    .option('--nodes <list>', 'comma-separated node ids, MACs or hostnames', (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean))
    .option('--timeout <minutes>', `per-node reprovision timeout on the server, and how long --wait waits (default ${DEFAULT_WAIT_MIN})`, positiveNumber)
    .option('--wait', 'show progress until every node is clustered, one fails, or the timeout passes')
    .option('--poll <seconds>', 'how often --wait asks the server', positiveNumber, 2)
    .option('--url <url>', 'homeport base URL (default $HOMEPORT_URL, else http://127.0.0.1:<http.port> of the config)')
    .action((options: ReprovisionOptions) => reprovision(options));

  const clusters = program.command('clusters').description('clusters and their formation');
  clusters
    .command('ls')
    .description('list clusters: state, nodes by reprovision status, last error')
    .addOption(configOption())
    .option('--url <url>', 'homeport base URL')
    .option('--json', 'JSON output')
    .action(async (options: ApiOptions & { json?: boolean }) => {
      const { clusters: list } = await apiFrom(options).call<{ clusters: ClusterJson[] }>('GET', '/api/clusters');
      if (options.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
      const rows = list.map((c) => [c.name, c.driver, c.state, String(c.nodes), Object.entries(c.by_status).map(([k, v]) => `${k}=${v}`).join(',') || '-', c.last_error ?? c.verdict].join('\t'));
      process.stdout.write(['NAME\tDRIVER\tSTATE\tNODES\tSTATUSES\tDETAIL', ...rows].join('\n') + '\n');
    });
  clusters
    .command('form <name>')
    .description('form a cluster now, e.g. again after a failed formation')
    .addOption(configOption())
    .option('--url <url>', 'homeport base URL')
    .action(async (name: string, options: ApiOptions) => {
      const { job, created } = await apiFrom(options).call<{ job: { id: number; status: string }; created: boolean }>('POST', `/api/clusters/${encodeURIComponent(name)}/form`);
      process.stdout.write(`${created ? 'queued' : 'already queued'}: job ${job.id} (${job.status})\n`);
    });
}

interface ReprovisionOptions extends ApiOptions {
  all?: boolean;
  nodes?: string[];
  timeout?: number;
  wait?: boolean;
  poll: number;
}

interface ClusterJson extends WatchedCluster {
  driver: string;
  nodes: number;
  by_status: Record<string, number>;
  verdict: string;
}

type StartedNode = WatchedNode & { restart: { ok: boolean; detail: string } };

async function reprovision(options: ReprovisionOptions): Promise<void> {
  if (Boolean(options.all) === Boolean(options.nodes?.length)) throw new CliExit(EXIT.usage, 'give either --all or --nodes n1,n2');
  const api = apiFrom(options);
  const body = { ...(options.all ? { all: true } : { nodes: options.nodes }), ...(options.timeout ? { timeout_min: Math.ceil(options.timeout) } : {}) };
  const started = await api.call<{ method: string; timeout_min: number; nodes: StartedNode[] }>('POST', '/api/reprovision', body);
  for (const n of started.nodes) process.stdout.write(`${n.hostname ?? n.mac}: ${n.restart.ok ? `reprovisioning (${n.restart.detail})` : `restart failed: ${n.restart.detail}`}\n`);
  const failedRestarts = started.nodes.filter((n) => !n.restart.ok).length;
  if (!options.wait) {
    if (failedRestarts) throw new CliExit(EXIT.nodeFailed, `${failedRestarts} restart(s) failed`);
    return;
  }
  const code = await waitForNodes(api, started.nodes.map((n) => n.id), (options.timeout ?? DEFAULT_WAIT_MIN) * 60_000, options.poll * 1000);
  if (code !== EXIT.ok) throw new CliExit(code, code === EXIT.waitTimeout ? 'timed out waiting' : code === EXIT.interrupted ? 'stopped waiting; the reprovision goes on (homeport clusters ls)' : 'reprovision failed');
}

/** Polls until waitVerdict says done, the timeout passes, or Ctrl-C; returns the exit code. */
async function waitForNodes(api: Api, ids: number[], timeoutMs: number, pollMs: number): Promise<number> {
  const startedAt = Date.now();
  const display = createDisplay(process.stdout, startedAt);
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    for (;;) {
      const wanted = new Set(ids);
      const nodes = (await api.call<{ nodes: WatchedNode[] }>('GET', '/api/nodes?limit=10000')).nodes.filter((n) => wanted.has(n.id));
      const clusters = nodes.some((n) => n.cluster) ? (await api.call<{ clusters: ClusterJson[] }>('GET', '/api/clusters')).clusters : [];
      display.show(nodes, clusters);
      const verdict = waitVerdict(nodes, clusters);
      if (verdict.done) {
        display.line(verdict.message);
        return verdict.ok ? EXIT.ok : EXIT.nodeFailed;
      }
      const left = startedAt + timeoutMs - Date.now();
      if (left <= 0) {
        display.line(`timeout: not done after ${elapsed(timeoutMs)} (mm:ss); the reprovision goes on on the server`);
        return EXIT.waitTimeout;
      }
      if (!(await pause(Math.min(pollMs, left), interrupt.signal))) return EXIT.interrupted;
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

/** False when interrupted. */
function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => resolve(true), ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve(false)), { once: true });
  });
}

interface Display {
  show(nodes: WatchedNode[], clusters: WatchedCluster[]): void;
  line(text: string): void;
}

/** A terminal gets a block redrawn in place with progress bars; a pipe gets a line per change. */
function createDisplay(out: NodeJS.WriteStream, startedAt: number): Display {
  if (out.isTTY) {
    let drawn = 0;
    return {
      show(nodes, clusters) {
        const lines = ttyBlock(nodes, clusters, Date.now());
        out.write((drawn ? `\x1b[${drawn}A` : '') + lines.map((l) => `\x1b[2K${l}\n`).join(''));
        drawn = lines.length;
      },
      line: (text) => void out.write(text + '\n'),
    };
  }
  const last = new Map<string, string>();
  return {
    show(nodes, clusters) {
      const now = Date.now();
      for (const n of nodes) {
        const state = nodeState(n);
        if (last.get(`n${n.id}`) !== state) out.write(plainLine(n, now, startedAt) + '\n');
        last.set(`n${n.id}`, state);
      }
      for (const c of clusters.filter((c) => nodes.some((n) => n.cluster === c.name))) {
        if (last.get(`c${c.name}`) !== c.state) out.write(`cluster ${c.name}: ${c.state}${c.last_error ? ` (${c.last_error})` : ''}\n`);
        last.set(`c${c.name}`, c.state);
      }
    },
    line: (text) => void out.write(text + '\n'),
  };
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function configOf(options: ApiOptions): Config {
  try {
    return loadConfig(options.config).config;
  } catch (err) {
    if (err instanceof ConfigError) throw new CliExit(EXIT.usage, err.message);
    throw err;
  }
}

function apiFrom(options: ApiOptions, env: NodeJS.ProcessEnv = process.env): Api {
  const config = configOf(options);
  const base = (options.url ?? env.HOMEPORT_URL ?? localUrl(config)).replace(/\/$/, '');
  const token = env.HOMEPORT_ADMIN_TOKEN ?? readToken(config.auth.adminTokenFile);
  return {
    async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      let response: Response;
      try {
        response = await fetch(base + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
      } catch (err) {
        throw new CliExit(EXIT.failure, `cannot reach homeport at ${base}: ${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message}`);
      }
      const text = await response.text();
      if (response.ok) return JSON.parse(text) as T;
      const detail = (() => {
        try {
          return (JSON.parse(text) as { detail?: string }).detail ?? text;
        } catch {
          return text;
        }
      })();
      throw new CliExit(response.status === 404 ? EXIT.notFound : response.status === 400 ? EXIT.usage : EXIT.failure, `${method} ${path}: HTTP ${response.status}: ${detail}`);
    },
  };
}

function localUrl(config: Config): string {
  const host = ['0.0.0.0', '::', ''].includes(config.http.host) ? '127.0.0.1' : config.http.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.port}`;
}

function readToken(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new CliExit(EXIT.usage, `no admin token: set HOMEPORT_ADMIN_TOKEN or make ${file} readable (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}
