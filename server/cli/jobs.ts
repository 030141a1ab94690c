import fs from 'node:fs';
import path from 'node:path';
import type { Command, Option } from 'commander';
import { apiFrom, pause, positiveNumber, type Api, type ApiOptions } from './api.js';
import { createDisplay } from './display.js';
import { CliExit, EXIT } from './exit.js';
import { formatLogLine, formatTime } from '../util/time.js';
import { elapsed, type WatchedCluster, type WatchedNode } from './progress.js';

/** What the CLI reads of GET /api/jobs/:id. */
export interface JobJson {
  id: number;
  type: string;
  status: string;
  run_at: string;
  attempts: number;
  stage: string | null;
  percent: number | null;
  message: string | null;
  stages: { name: string; state: string; percent: number | null; message: string | null }[];
  node_ids: number[];
  cluster: string | null;
  result: unknown;
  error: string | null;
  created_at: string;
  log_tail?: string[];
}

const DEFAULT_WAIT_MIN = 60;

/** `homeport jobs ls|show|cancel|retry|wait` and `homeport nodes import FILE`. */
export function registerJobsCommands(program: Command, nodesCommand: Command, configOption: () => Option): void {
  const jobs = program
    .command('jobs')
    .description('long actions (reprovision, form_cluster, power, import_nodes): stages, progress, logs');
  const urlOption = (cmd: Command) =>
    cmd
      .addOption(configOption())
      .option('--url <url>', "homeport base URL (default $HOMEPORT_URL, else the config's http port on 127.0.0.1)");
  urlOption(jobs.command('ls').description('list jobs, newest first'))
    .option('--type <type>', 'only this type')
    .option('--status <status>', 'pending, running, completed, failed, cancelled or paused')
    .option('--node <node>', 'only jobs about this node (id, MAC or hostname)')
    .option('--cluster <name>', 'only jobs about this cluster')
    .option('--limit <n>', 'at most this many', positiveNumber, 50)
    .option('--json', 'JSON output')
    .action(
      async (
        options: ApiOptions & {
          type?: string;
          status?: string;
          node?: string;
          cluster?: string;
          limit: number;
          json?: boolean;
        },
      ) => {
        const query = new URLSearchParams(
          Object.entries({
            type: options.type,
            status: options.status,
            node: options.node,
            cluster: options.cluster,
            limit: String(options.limit),
          }).filter((e): e is [string, string] => Boolean(e[1])),
        );
        const { jobs: list, total } = await apiFrom(options).call<{ jobs: JobJson[]; total: number }>(
          'GET',
          `/api/jobs?${query}`,
        );
        if (options.json) return void process.stdout.write(JSON.stringify(list, null, 2) + '\n');
        const rows = list.map((j) =>
          [
            j.id,
            j.type,
            j.status,
            j.stage ?? '-',
            j.percent === null ? '-' : `${j.percent}%`,
            formatTime(j.created_at),
            j.error ?? j.message ?? '',
          ].join('\t'),
        );
        process.stdout.write(['ID\tTYPE\tSTATUS\tSTAGE\tPERCENT\tCREATED\tDETAIL', ...rows].join('\n') + '\n');
        if (total > list.length) process.stdout.write(`(${list.length} of ${total}; --limit for more)\n`);
      },
    );
  urlOption(jobs.command('show <id>').description('a job: status, stages, result or error, the end of its log'))
    .option('--json', 'JSON output')
    .action(async (id: string, options: ApiOptions & { json?: boolean }) => {
      const job = await apiFrom(options).call<JobJson>('GET', `/api/jobs/${encodeURIComponent(id)}`);
      if (options.json) return void process.stdout.write(JSON.stringify(job, null, 2) + '\n');
      process.stdout.write(describeJob(job).join('\n') + '\n');
    });
  urlOption(
    jobs.command('cancel <id>').description('cancel: a queued or paused job ends now, a running one at its next stage'),
  ).action(async (id: string, options: ApiOptions) => {
    const job = await apiFrom(options).call<JobJson & { cancel_requested: boolean }>(
      'POST',
      `/api/jobs/${encodeURIComponent(id)}/cancel`,
    );
    process.stdout.write(
      job.status === 'cancelled'
        ? `job ${job.id} cancelled\n`
        : `job ${job.id}: cancel requested; it stops at its next stage boundary\n`,
    );
  });
  urlOption(
    jobs.command('retry <id>').description('retry a failed, paused or cancelled job from where it stopped'),
  ).action(async (id: string, options: ApiOptions) => {
    const job = await apiFrom(options).call<JobJson>('POST', `/api/jobs/${encodeURIComponent(id)}/retry`);
    process.stdout.write(`job ${job.id} ${job.status} again\n`);
  });
  urlOption(jobs.command('wait <id>').description('follow a job live (its stages and its nodes) until it ends'))
    .option('--timeout <minutes>', `stop waiting after this long (default ${DEFAULT_WAIT_MIN})`, positiveNumber)
    .option('--poll <seconds>', 'how often to ask the server', positiveNumber, 2)
    .action(async (id: string, options: ApiOptions & { timeout?: number; poll: number }) => {
      await waitForJobOrExit(
        apiFrom(options),
        Number(id),
        (options.timeout ?? DEFAULT_WAIT_MIN) * 60_000,
        options.poll * 1000,
      );
    });

  urlOption(
    nodesCommand
      .command('import <file>')
      .description(
        "import nodes from seed 000's registered-nodes.json or a CSV (mac,hostname,ip,profile,cluster): idempotent, a line per row in file order; exit 5 when a row was rejected (the others are imported)",
      ),
  )
    .option('--format <format>', 'json or csv (default: by the file name)')
    .option('--json', 'JSON output (the job)')
    .action(async (file: string, options: ApiOptions & { format?: string; json?: boolean }) =>
      importNodes(file, options),
    );
}

async function importNodes(file: string, options: ApiOptions & { format?: string; json?: boolean }): Promise<void> {
  const format = options.format ?? (path.extname(file).toLowerCase() === '.csv' ? 'csv' : 'json');
  if (format !== 'json' && format !== 'csv') throw new CliExit(EXIT.usage, `--format ${format}: must be json or csv`);
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliExit(EXIT.notFound, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const api = apiFrom(options);
  const { job } = await api.call<{ job: JobJson }>('POST', '/api/jobs', {
    type: 'import_nodes',
    params: { format, content, source: path.basename(file) },
  });
  const ended = await settle(api, job.id, 120_000);
  if (options.json) return void process.stdout.write(JSON.stringify(ended, null, 2) + '\n');
  if (ended.status !== 'completed')
    throw new CliExit(EXIT.failure, `import failed: ${ended.error ?? ended.status} (homeport jobs show ${ended.id})`);
  const result = ended.result as {
    created: number;
    updated: number;
    skipped: number;
    rejected: number;
    rows: { row: string; mac?: string; action: string; reason: string }[];
  };
  for (const r of result.rows) process.stdout.write(`${r.row}${r.mac ? ` ${r.mac}` : ''}: ${r.action} (${r.reason})\n`);
  process.stdout.write(
    `job ${ended.id}: ${result.created} created, ${result.updated} updated, ${result.skipped} skipped, ${result.rejected} rejected\n`,
  );
  if (result.rejected) throw new CliExit(EXIT.nodeFailed, `${result.rejected} row(s) rejected`);
}

/** Polls a job until it is no longer queued-and-due or running. */
async function settle(api: Api, id: number, timeoutMs: number): Promise<JobJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await api.call<JobJson>('GET', `/api/jobs/${id}`);
    if (!['pending', 'running'].includes(job.status) || Date.now() > deadline) return job;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function describeJob(job: JobJson): string[] {
  const lines = [
    `job ${job.id}: ${job.type} ${job.status}${job.percent !== null && job.status === 'running' ? ` ${job.percent}%` : ''} (attempt ${job.attempts}, created ${formatTime(job.created_at)}, runs at ${formatTime(job.run_at)})`,
  ];
  for (const s of job.stages)
    lines.push(`  ${stageMark(s.state)} ${s.name}: ${s.state}${s.message ? ` (${s.message})` : ''}`);
  if (job.error) lines.push(`error: ${job.error}`);
  if (job.result !== null && job.status === 'completed') lines.push(`result: ${JSON.stringify(job.result)}`);
  if (job.log_tail?.length) lines.push('log:', ...job.log_tail.slice(-20).map((l) => `  ${formatLogLine(l)}`));
  return lines;
}

const stageMark = (state: string) =>
  ({ completed: '✔', failed: '✘', running: '▶', waiting: '…', skipped: '-' })[state] ?? ' ';

/**
 * `jobs wait` and `reprovision --rolling --wait`: the job's stage changes as
 * lines, and its nodes with the same display as `reprovision --wait`. Exit
 * codes: 0 completed, 5 failed/paused/cancelled, 4 timeout, 130 Ctrl-C.
 */
export async function waitForJobOrExit(api: Api, id: number, timeoutMs: number, pollMs: number): Promise<void> {
  const startedAt = Date.now();
  const display = createDisplay(process.stdout, startedAt);
  const interrupt = new AbortController();
  const onSigint = () => interrupt.abort();
  process.once('SIGINT', onSigint);
  const seen = new Map<string, string>();
  try {
    for (;;) {
      const job = await api.call<JobJson>('GET', `/api/jobs/${id}`);
      for (const s of job.stages) {
        const state = `${s.state}:${s.message ?? ''}`;
        if (seen.get(s.name) !== state && s.state !== 'pending')
          display.line(`job ${job.id} ${s.name}: ${s.state}${s.message ? ` (${s.message})` : ''}`);
        seen.set(s.name, state);
      }
      if (job.node_ids.length) {
        const wanted = new Set(job.node_ids);
        const nodes = (await api.call<{ nodes: WatchedNode[] }>('GET', '/api/nodes?limit=10000')).nodes.filter((n) =>
          wanted.has(n.id),
        );
        const clusters = nodes.some((n) => n.cluster)
          ? (await api.call<{ clusters: WatchedCluster[] }>('GET', '/api/clusters')).clusters
          : [];
        display.show(nodes, clusters);
      }
      if (['completed', 'failed', 'cancelled', 'paused'].includes(job.status)) {
        display.line(`job ${job.id} ${job.status}${job.error ? `: ${job.error}` : ''}`);
        if (job.status === 'completed') return;
        throw new CliExit(
          EXIT.nodeFailed,
          `job ${job.id} ${job.status}${job.status === 'paused' ? ` (homeport jobs retry ${job.id} resumes it)` : ''}`,
        );
      }
      const left = startedAt + timeoutMs - Date.now();
      if (left <= 0) {
        display.line(`timeout: job ${job.id} not done after ${elapsed(timeoutMs)} (mm:ss); it goes on on the server`);
        throw new CliExit(EXIT.waitTimeout, 'timed out waiting');
      }
      if (!(await pause(Math.min(pollMs, left), interrupt.signal)))
        throw new CliExit(EXIT.interrupted, `stopped waiting; job ${id} goes on (homeport jobs show ${id})`);
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}
