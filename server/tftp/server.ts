/**
 * The TFTP edge: a listening socket that accepts read requests and hands each
 * one to a transfer on its own ephemeral socket (the server's TID, RFC 1350 §4),
 * in this thread or in a worker thread. Read-only: write requests get error 2.
 */
import type { RemoteInfo } from 'node:dgram';
import os from 'node:os';
import type { Logger } from '../log/logger.js';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { encodeError, ErrorCode, parsePacket, type RequestPacket } from './packet.js';
import { requestSegments } from './paths.js';
import { bind, udpSocket, type ReadJob, type TransferReport, type TransferSettings } from './transfer.js';
import { inProcessBackend, workerBackend, type LogLevel, type TransferBackend } from './workers.js';

export interface TftpServerOptions {
  host: string;
  port: number;
  /** Searched in order, e.g. [configuredRoot, DEBIAN_IPXE_DIR]. */
  roots: string[];
  log: Logger;
  registry?: Registry;
  maxSessions?: number;
  maxBlksize?: number;
  maxWindowsize?: number;
  /** Retransmission timeout when the client does not negotiate one. */
  timeoutMs?: number;
  /** Retransmissions in a row without progress before a transfer is abandoned. */
  retries?: number;
  /** Generated files served by name before the roots are searched (e.g. autoexec.ipxe). */
  renderedFiles?: Record<string, () => Buffer | string>;
  /** Memory for file chunks shared between transfers (per worker). */
  cacheBytes?: number;
  /** Worker threads for transfers; 0 runs them in this thread. Default: one per core. */
  workers?: number;
  /** Every request's end, accepted or refused: the facts a boot timeline shows. Must not throw. */
  onTransfer?: (info: TftpTransferInfo) => void;
}

/** One read request and how it ended. */
export interface TftpTransferInfo {
  client: { address: string; port: number };
  file: string;
  /** `completed`, `timed-out`, `peer-error`, `aborted`, or the refusal: `not_found`, `access_violation`, `busy`, ... */
  ended: string;
  report?: TransferReport;
}

export interface TftpServer {
  address: { host: string; port: number };
  close(): Promise<void>;
}

const DEFAULTS = {
  maxSessions: 100,
  maxBlksize: 65464,
  maxWindowsize: 64,
  timeoutMs: 1000,
  retries: 5,
  cacheBytes: 64 * 1024 * 1024,
};

// ---------------------------------------------------------------- metrics

interface TftpMetrics {
  requests: Counter<'result'>;
  transfers: Counter<'outcome'>;
  bytesSent: Counter;
  blocksRetransmitted: Counter;
  malformedPackets: Counter;
  activeSessions: Gauge;
  duration: Histogram<'outcome'>;
}

/** One set of metrics per registry, so that several servers (tests) can share one. */
const metricsByRegistry = new WeakMap<Registry, TftpMetrics>();

function createMetrics(registry: Registry | undefined): TftpMetrics {
  const registers = registry ? [registry] : [];
  return {
    requests: new Counter({
      name: 'homeport_tftp_requests_total',
      help: 'TFTP requests by result',
      labelNames: ['result'],
      registers,
    }),
    transfers: new Counter({
      name: 'homeport_tftp_transfers_total',
      help: 'TFTP read transfers by outcome',
      labelNames: ['outcome'],
      registers,
    }),
    bytesSent: new Counter({
      name: 'homeport_tftp_bytes_sent_total',
      help: 'File bytes of completed TFTP transfers',
      registers,
    }),
    blocksRetransmitted: new Counter({
      name: 'homeport_tftp_blocks_retransmitted_total',
      help: 'DATA blocks sent again after a timeout',
      registers,
    }),
    malformedPackets: new Counter({
      name: 'homeport_tftp_malformed_packets_total',
      help: 'Packets to the TFTP port that did not parse',
      registers,
    }),
    activeSessions: new Gauge({ name: 'homeport_tftp_active_sessions', help: 'TFTP requests being served', registers }),
    duration: new Histogram({
      name: 'homeport_tftp_transfer_duration_seconds',
      help: 'Duration of TFTP read transfers',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers,
    }),
  };
}

function metricsFor(registry: Registry | undefined): TftpMetrics {
  if (!registry) return createMetrics(undefined);
  let metrics = metricsByRegistry.get(registry);
  if (!metrics) {
    metrics = createMetrics(registry);
    metricsByRegistry.set(registry, metrics);
  }
  return metrics;
}

function record(metrics: TftpMetrics, report: TransferReport): void {
  metrics.requests.inc({ result: report.result });
  if (!report.outcome) return;
  metrics.transfers.inc({ outcome: report.outcome });
  metrics.duration.observe({ outcome: report.outcome }, report.seconds);
  metrics.bytesSent.inc(report.bytes);
  metrics.blocksRetransmitted.inc(report.blocksRetransmitted);
}

// ---------------------------------------------------------------- server

function enabledLevels(log: Logger): LogLevel[] {
  return (['debug', 'info', 'warn'] as const).filter((level) => log.isLevelEnabled(level));
}

function startBackend(opts: TftpServerOptions, settings: TransferSettings): Promise<TransferBackend> {
  const workers = opts.workers ?? os.availableParallelism();
  if (workers === 0) return Promise.resolve(inProcessBackend(settings));
  return workerBackend(workers, { settings, levels: enabledLevels(opts.log) }, opts.log);
}

export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const log = opts.log;
  const maxSessions = opts.maxSessions ?? DEFAULTS.maxSessions;
  const settings: TransferSettings = {
    host: opts.host,
    roots: opts.roots,
    maxBlksize: opts.maxBlksize ?? DEFAULTS.maxBlksize,
    maxWindowsize: opts.maxWindowsize ?? DEFAULTS.maxWindowsize,
    timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
    retries: opts.retries ?? DEFAULTS.retries,
    cacheBytes: opts.cacheBytes ?? DEFAULTS.cacheBytes,
  };
  const metrics = metricsFor(opts.registry);
  const rendered = new Map<string, () => Buffer | string>();
  for (const [name, render] of Object.entries(opts.renderedFiles ?? {})) rendered.set(canonicalName(name), render);
  /** Transfers by client address:port (its TID); a repeated RRQ from it is a retransmission. */
  const transfers = new Map<string, Promise<void>>();

  const backend = await startBackend(opts, settings);
  const listener = udpSocket(opts.host);
  try {
    await bind(listener, opts.host, opts.port);
  } catch (err) {
    await backend.close();
    throw err;
  }
  listener.on('error', (err) => log.error({ err }, 'tftp listener error'));
  listener.on('message', onDatagram);

  function notify(info: TftpTransferInfo): void {
    try {
      opts.onTransfer?.(info);
    } catch (err) {
      log.warn({ err }, 'tftp: onTransfer failed');
    }
  }

  function refuse(client: RemoteInfo, code: ErrorCode, message: string, result: string, file = ''): void {
    metrics.requests.inc({ result });
    notify({ client: { address: client.address, port: client.port }, file, ended: result });
    listener.send(encodeError(code, message), client.port, client.address);
  }

  function onDatagram(message: Buffer, client: RemoteInfo): void {
    const key = `${client.address}:${client.port}`;
    const parsed = parsePacket(message);
    if (!parsed.ok) {
      metrics.malformedPackets.inc();
      log.warn({ client: key, error: parsed.error, bytes: message.length }, 'tftp: malformed packet dropped');
      return;
    }
    const packet = parsed.packet;
    if (packet.type === 'WRQ')
      return refuse(client, ErrorCode.AccessViolation, 'write requests are not accepted', 'write_refused');
    if (packet.type !== 'RRQ')
      return log.debug({ client: key, type: packet.type }, 'tftp: packet outside a transfer dropped');
    if (transfers.has(key)) return log.debug({ client: key }, 'tftp: repeated RRQ ignored');
    if (transfers.size >= maxSessions)
      return refuse(client, ErrorCode.NotDefined, 'server busy', 'busy', packet.filename);
    transfers.set(key, serve(packet, client, key));
  }

  async function serve(request: RequestPacket, client: RemoteInfo, key: string): Promise<void> {
    const sessionLog = log.child({ client: key, file: request.filename });
    metrics.activeSessions.inc();
    try {
      const report = await backend.serve(toJob(request, client, rendered), sessionLog);
      record(metrics, report);
      if (report.outcome) sessionLog.info(report, 'tftp transfer ended');
      const ended = report.outcome ?? report.result;
      notify({ client: { address: client.address, port: client.port }, file: request.filename, ended, report });
    } catch (err) {
      metrics.requests.inc({ result: 'error' });
      sessionLog.error({ err }, 'tftp transfer failed');
    } finally {
      metrics.activeSessions.dec();
      transfers.delete(key);
    }
  }

  const address = listener.address();
  return {
    address: { host: address.address, port: address.port },
    async close() {
      listener.close();
      await backend.close();
      await Promise.all(transfers.values());
    },
  };
}

/** The name a request refers to, so that "/autoexec.ipxe" finds "autoexec.ipxe". */
function canonicalName(name: string): string {
  const segments = requestSegments(name);
  return typeof segments === 'string' ? '' : segments.join('/');
}

function toJob(request: RequestPacket, client: RemoteInfo, rendered: Map<string, () => Buffer | string>): ReadJob {
  const render = rendered.get(canonicalName(request.filename));
  return {
    filename: request.filename,
    mode: request.mode,
    options: [...request.options],
    client: { address: client.address, port: client.port },
    rendered: render ? Buffer.from(render()) : undefined,
  };
}
