/**
 * Entry point of a TFTP worker thread (see workers.ts): runs the transfers the
 * main thread hands it and posts back their logs and reports.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { TransferLog } from './session.js';
import { TransferRunner } from './transfer.js';
import type { FromWorker, LogLevel, ToWorker, WorkerData } from './workers.js';

if (!parentPort) throw new Error('tftp worker.ts must run as a worker thread');
const port = parentPort;
const data = workerData as WorkerData;
const runner = new TransferRunner(data.settings);
const running = new Set<Promise<void>>();

function post(message: FromWorker): void {
  port.postMessage(message);
}

function relayLog(id: number): TransferLog {
  const relay = (level: LogLevel) =>
    data.levels.includes(level) ? (obj: object, msg: string) => post({ type: 'log', id, level, obj, msg }) : () => {};
  return { debug: relay('debug'), info: relay('info'), warn: relay('warn') };
}

function serve(id: number, job: Extract<ToWorker, { type: 'serve' }>['job']): void {
  const transfer = runner.serve(job, relayLog(id)).then(
    (report) => post({ type: 'done', id, report }),
    (err: Error) => post({ type: 'failed', id, error: String(err) }),
  );
  running.add(transfer);
  void transfer.finally(() => running.delete(transfer));
}

port.on('message', (message: ToWorker) => {
  if (message.type === 'serve') return serve(message.id, message.job);
  runner.abortAll();
  void Promise.allSettled([...running]).then(() => post({ type: 'closed' }));
});

post({ type: 'ready' });
