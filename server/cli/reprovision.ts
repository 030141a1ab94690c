import { InvalidArgumentError, type Command, type Option } from 'commander';
import { configSchema } from '../config/schema.js';
import { apiFrom, pause, positiveNumber, type Api, type ApiOptions } from './api.js';
import { createDisplay } from './display.js';
import { CliExit, EXIT } from './exit.js';
import { waitForJobOrExit, type JobJson } from './jobs.js';
import { elapsed, waitVerdict, type WatchedCluster, type WatchedNode } from './progress.js';

/**
 * `homeport reprovision` and `homeport clusters`: clients of a running
 * server's admin API (seed 000's coordinated reprovision script), with the
 * admin token from $HOMEPORT_ADMIN_TOKEN or the data dir's admin.token.
 */
const DEFAULT_WAIT_MIN = 60; // seed 000: overall workflow timeout
/** The server's own default, from the config schema, so the help text cannot drift from it. */
const SERVER_TIMEOUT_DEFAULT_MIN = configSchema.parse({}).watcher.reprovisionTimeoutMin;

export function registerReprovisionCommands(program: Command, configOption: () => Option): void {
  program
    .command('reprovision')
    .description(
      'reinstall nodes: in_progress, netboot on, restart (reprovision.method); --wait follows them until clustered',
    )
    .addOption(configOption())
    .option('--all', 'every configured node (not discovered ones)')
    .option('--nodes <list>', 'comma-separated node ids, MACs or hostnames', (v: string) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    )
    .option('--cluster <name>', 'every node of this cluster')
    .option('--rolling', 'a batch at a time, each back (and rejoined) before the next; pauses when a batch fails')
    .option('--max-unavailable <n>', 'with --rolling: nodes out at once (default 1)', positiveInteger)
    .option('--at <time>', 'run later: an ISO 8601 time (2026-12-01T02:00:00Z); it re-checks the nodes when it runs')
    .option(
      '--timeout <minutes>',
      `per-node reprovision timeout on the server (default: its watcher.reprovisionTimeoutMin, ${SERVER_TIMEOUT_DEFAULT_MIN} unless configured) and how long --wait waits (default ${DEFAULT_WAIT_MIN})`,
      positiveNumber,
    )
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
      const rows = list.map((c) =>
        [
          c.name,
          c.driver,
          c.state,
          String(c.nodes),
          Object.entries(c.by_status)
            .map(([k, v]) => `${k}=${v}`)
            .join(',') || '-',
          c.last_error ?? c.verdict,
        ].join('\t'),
      );
      process.stdout.write(['NAME\tDRIVER\tSTATE\tNODES\tSTATUSES\tDETAIL', ...rows].join('\n') + '\n');
    });
  clusters
    .command('form <name>')
    .description(
      'form a cluster now, e.g. again after a failed formation; a cluster already formed is not an error (exit 0)',
    )
    .addOption(configOption())
    .option('--url <url>', 'homeport base URL')
    .action(async (name: string, options: ApiOptions) => formCluster(apiFrom(options), name));
}

/** Queues a formation; the server refuses one for a formed cluster (409), which is what the admin wanted anyway. */
async function formCluster(api: Api, name: string): Promise<void> {
  try {
    const { job, created } = await api.call<{ job: { id: number; status: string }; created: boolean }>(
      'POST',
      `/api/clusters/${encodeURIComponent(name)}/form`,
    );
    process.stdout.write(`${created ? 'queued' : 'already queued'}: job ${job.id} (${job.status})\n`);
  } catch (err) {
    if (!(err instanceof CliExit) || err.httpStatus !== 409) throw err;
    const { clusters } = await api.call<{ clusters: ClusterJson[] }>('GET', '/api/clusters');
    const cluster = clusters.find((c) => c.name === name);
    if (cluster?.state !== 'formed') throw err;
    process.stdout.write(`cluster ${name} is already formed (${cluster.verdict}); nothing to do\n`);
  }
}

interface ReprovisionOptions extends ApiOptions {
  all?: boolean;
  nodes?: string[];
  cluster?: string;
  rolling?: boolean;
  maxUnavailable?: number;
  at?: string;
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
  const targets = [options.all, options.nodes?.length, options.cluster].filter(Boolean).length;
  if (targets !== 1) throw new CliExit(EXIT.usage, 'give one of --all, --nodes n1,n2 or --cluster NAME');
  if (options.maxUnavailable && !options.rolling)
    throw new CliExit(EXIT.usage, '--max-unavailable goes with --rolling');
  const at = options.at === undefined ? undefined : Date.parse(options.at);
  if (at !== undefined && Number.isNaN(at))
    throw new CliExit(EXIT.usage, `--at ${options.at}: not a time; use ISO 8601 such as 2026-12-01T02:00:00Z`);
  const api = apiFrom(options);
  const target = options.all
    ? { all: true }
    : options.cluster
      ? { cluster: options.cluster }
      : { nodes: options.nodes };
  const body = {
    ...target,
    ...(options.timeout ? { timeout_min: Math.ceil(options.timeout) } : {}),
    ...(options.rolling
      ? { rolling: true, ...(options.maxUnavailable ? { max_unavailable: options.maxUnavailable } : {}) }
      : {}),
    ...(at !== undefined ? { at: new Date(at).toISOString() } : {}),
  };
  const started = await api.call<{ job: JobJson; nodes?: StartedNode[] }>('POST', '/api/reprovision', body);
  if (!started.nodes) {
    process.stdout.write(
      `job ${started.job.id}: ${started.job.type} ${started.job.status}${at !== undefined ? `, runs at ${started.job.run_at}` : ''} (homeport jobs wait ${started.job.id})\n`,
    );
    if (options.wait)
      await waitForJobOrExit(api, started.job.id, (options.timeout ?? DEFAULT_WAIT_MIN) * 60_000, options.poll * 1000);
    return;
  }
  for (const n of started.nodes)
    process.stdout.write(
      `${n.hostname ?? n.mac}: ${n.restart.ok ? `reprovisioning (${n.restart.detail})` : `restart failed: ${n.restart.detail}`}\n`,
    );
  const failedRestarts = started.nodes.filter((n) => !n.restart.ok).length;
  if (!options.wait) {
    if (failedRestarts) throw new CliExit(EXIT.nodeFailed, `${failedRestarts} restart(s) failed`);
    return;
  }
  const code = await waitForNodes(
    api,
    started.nodes.map((n) => n.id),
    (options.timeout ?? DEFAULT_WAIT_MIN) * 60_000,
    options.poll * 1000,
  );
  if (code !== EXIT.ok)
    throw new CliExit(
      code,
      code === EXIT.waitTimeout
        ? 'timed out waiting'
        : code === EXIT.interrupted
          ? 'stopped waiting; the reprovision goes on (homeport clusters ls)'
          : 'reprovision failed',
    );
}

/** Polls until waitVerdict says done, the timeout passes, or Ctrl-C; returns the exit code. */
export async function waitForNodes(api: Api, ids: number[], timeoutMs: number, pollMs: number): Promise<number> {
  const startedAt = Date.now();
  const display = createDisplay(process.stdout, startedAt);
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  try {
    for (;;) {
      const wanted = new Set(ids);
      const nodes = (await api.call<{ nodes: WatchedNode[] }>('GET', '/api/nodes?limit=10000')).nodes.filter((n) =>
        wanted.has(n.id),
      );
      const clusters = nodes.some((n) => n.cluster)
        ? (await api.call<{ clusters: ClusterJson[] }>('GET', '/api/clusters')).clusters
        : [];
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

function positiveInteger(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a whole number from 1');
  return n;
}
