/**
 * Where accepted transfers run: in the main thread, or spread over worker
 * threads. Lock-step TFTP costs a few microseconds of JavaScript per packet;
 * with dozens of clients one thread saturates (and gets only one scheduler
 * share against the clients), so by default each core gets a worker.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { TransferLog } from './session.js';
import { TransferRunner, type ReadJob, type TransferReport, type TransferSettings } from './transfer.js';

export interface TransferBackend {
  serve(job: ReadJob, log: TransferLog): Promise<TransferReport>;
  /** Aborts transfers in progress and waits until they have ended. */
  close(): Promise<void>;
}

export type LogLevel = 'debug' | 'info' | 'warn';

/** Messages from the main thread to a worker. */
export type ToWorker = { type: 'serve'; id: number; job: ReadJob } | { type: 'shutdown' };

/** Messages from a worker to the main thread. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'log'; id: number; level: LogLevel; obj: object; msg: string }
  | { type: 'done'; id: number; report: TransferReport }
  | { type: 'failed'; id: number; error: string }
  | { type: 'closed' };

export interface WorkerData {
  settings: TransferSettings;
  /** Levels worth posting to the main thread; the rest are dropped in the worker. */
  levels: LogLevel[];
}

export function inProcessBackend(settings: TransferSettings): TransferBackend {
  const runner = new TransferRunner(settings);
  const running = new Set<Promise<TransferReport>>();
  return {
    serve(job, log) {
      const transfer = runner.serve(job, log);
      running.add(transfer);
      void transfer.finally(() => running.delete(transfer)).catch(() => {});
      return transfer;
    },
    async close() {
      runner.abortAll();
      await Promise.allSettled([...running]);
    },
  };
}

interface PendingJob {
  log: TransferLog;
  resolve(report: TransferReport): void;
  reject(error: Error): void;
}

interface PoolWorker {
  worker: Worker;
  jobs: Map<number, PendingJob>;
}

/** Starts worker.ts (through worker-tsx.mjs when running under tsx) or, once compiled, worker.js. */
function startWorker(data: WorkerData): Worker {
  const compiled = path.extname(fileURLToPath(import.meta.url)) === '.js';
  return new Worker(new URL(compiled ? './worker.js' : './worker-tsx.mjs', import.meta.url), { workerData: data });
}

class WorkerPool implements TransferBackend {
  private readonly workers: PoolWorker[] = [];
  private nextJobId = 1;
  private closing = false;

  constructor(
    private readonly data: WorkerData,
    private readonly log: TransferLog,
  ) {}

  /** Starts a worker and resolves once its module has loaded. */
  async add(): Promise<void> {
    const worker = startWorker(this.data);
    const entry: PoolWorker = { worker, jobs: new Map() };
    await new Promise<void>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (message: FromWorker) => {
        worker.off('error', reject);
        if (message.type === 'ready') resolve();
        else reject(new Error(`tftp worker sent ${message.type} before ready`));
      });
    });
    worker.on('message', (message: FromWorker) => this.onMessage(entry, message));
    worker.on('error', (err) => this.log.warn({ err }, 'tftp worker failed'));
    worker.on('exit', (code) => this.onExit(entry, code));
    this.workers.push(entry);
  }

  serve(job: ReadJob, log: TransferLog): Promise<TransferReport> {
    const target = this.leastBusy();
    const id = this.nextJobId++;
    return new Promise((resolve, reject) => {
      target.jobs.set(id, { log, resolve, reject });
      const message: ToWorker = { type: 'serve', id, job };
      target.worker.postMessage(message);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(
      this.workers.map(async ({ worker }) => {
        const closed = new Promise<void>((resolve) => {
          worker.on('message', (message: FromWorker) => message.type === 'closed' && resolve());
          worker.once('exit', () => resolve());
        });
        const message: ToWorker = { type: 'shutdown' };
        worker.postMessage(message);
        await closed;
        await worker.terminate();
      }),
    );
  }

  private leastBusy(): PoolWorker {
    const [first, ...rest] = this.workers;
    if (!first) throw new Error('tftp worker pool is empty');
    return rest.reduce((best, w) => (w.jobs.size < best.jobs.size ? w : best), first);
  }

  private onMessage(entry: PoolWorker, message: FromWorker): void {
    if (message.type === 'log') {
      entry.jobs.get(message.id)?.log[message.level](message.obj, message.msg);
    } else if (message.type === 'done') {
      entry.jobs.get(message.id)?.resolve(message.report);
      entry.jobs.delete(message.id);
    } else if (message.type === 'failed') {
      entry.jobs.get(message.id)?.reject(new Error(message.error));
      entry.jobs.delete(message.id);
    }
  }

  /** A worker that died takes its transfers with it; replace it so capacity stays. */
  private onExit(entry: PoolWorker, code: number): void {
    const index = this.workers.indexOf(entry);
    if (index >= 0) this.workers.splice(index, 1);
    for (const job of entry.jobs.values()) job.reject(new Error(`tftp worker exited with code ${code}`));
    entry.jobs.clear();
    if (this.closing) return;
    this.log.warn({ code }, 'tftp worker exited; starting another');
    this.add().catch((err: Error) => this.log.warn({ err }, 'tftp worker could not be restarted'));
  }
}

export async function workerBackend(count: number, data: WorkerData, log: TransferLog): Promise<TransferBackend> {
  const pool = new WorkerPool(data, log);
  try {
    await Promise.all(Array.from({ length: count }, () => pool.add()));
  } catch (err) {
    await pool.close();
    throw err;
  }
  return pool;
}
