/**
 * The TFTP edge: a listening socket that accepts read requests and hands each
 * one to a Session on its own ephemeral socket (the server's TID, RFC 1350 §4).
 * Read-only: write requests are refused with error 2.
 */
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { constants as fsConstants } from 'node:fs';
import fs from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { negotiate } from './negotiate';
import { encodeError, ErrorCode, parsePacket, type RequestPacket } from './packet';
import { requestSegments, resolveRequestPath } from './paths';
import { Session, type SessionResult } from './session';
import { ChunkCache, fileSource, memorySource, netasciiFileSource, toNetascii, type BlockSource } from './source';

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
  /** Memory for file chunks shared between sessions. */
  cacheBytes?: number;
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
    requests: new Counter({ name: 'homeport_tftp_requests_total', help: 'TFTP requests by result', labelNames: ['result'], registers }),
    transfers: new Counter({ name: 'homeport_tftp_transfers_total', help: 'TFTP read transfers by outcome', labelNames: ['outcome'], registers }),
    bytesSent: new Counter({ name: 'homeport_tftp_bytes_sent_total', help: 'File bytes of completed TFTP transfers', registers }),
    blocksRetransmitted: new Counter({ name: 'homeport_tftp_blocks_retransmitted_total', help: 'DATA blocks sent again after a timeout', registers }),
    malformedPackets: new Counter({ name: 'homeport_tftp_malformed_packets_total', help: 'Packets that did not parse, dropped', registers }),
    activeSessions: new Gauge({ name: 'homeport_tftp_active_sessions', help: 'TFTP transfers in progress', registers }),
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

// ---------------------------------------------------------------- sockets

function udpSocket(host: string): Socket {
  return dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4' });
}

function bind(socket: Socket, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: host, port, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
}

/** A session socket, connected so the kernel hands it only the client's packets. */
async function sessionSocket(host: string, client: RemoteInfo): Promise<Socket> {
  const socket = udpSocket(host);
  await bind(socket, host, 0);
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(client.port, client.address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  return socket;
}

// ---------------------------------------------------------------- opening files

type Opened = { ok: true; source: BlockSource } | { ok: false; code: ErrorCode; message: string; result: string };

function refusal(code: ErrorCode, message: string, result: string): Opened {
  return { ok: false, code, message, result };
}

function renderedLookup(files: Record<string, () => Buffer | string>): Map<string, () => Buffer | string> {
  const byName = new Map<string, () => Buffer | string>();
  for (const [name, render] of Object.entries(files)) {
    const segments = requestSegments(name);
    if (typeof segments !== 'string') byName.set(segments.join('/'), render);
  }
  return byName;
}

function asSource(data: Buffer, mode: RequestPacket['mode']): BlockSource {
  return memorySource(mode === 'netascii' ? toNetascii(data) : data);
}

async function openFile(path: string, mode: RequestPacket['mode'], cache: ChunkCache): Promise<Opened> {
  let handle: fs.FileHandle;
  try {
    // The path is already real: O_NOFOLLOW stops a symlink swapped in since.
    handle = await fs.open(path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return refusal(ErrorCode.FileNotFound, 'file not found', 'not_found');
    return refusal(ErrorCode.AccessViolation, 'cannot open file', 'access_violation');
  }
  try {
    const stat = await handle.stat();
    const source = mode === 'netascii' ? await netasciiFileSource(handle, stat.size) : fileSource(handle, stat, cache);
    return { ok: true, source };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

// ---------------------------------------------------------------- server

export async function startTftpServer(opts: TftpServerOptions): Promise<TftpServer> {
  const settings = {
    maxSessions: opts.maxSessions ?? DEFAULTS.maxSessions,
    maxBlksize: opts.maxBlksize ?? DEFAULTS.maxBlksize,
    maxWindowsize: opts.maxWindowsize ?? DEFAULTS.maxWindowsize,
    timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
    retries: opts.retries ?? DEFAULTS.retries,
    cacheBytes: opts.cacheBytes ?? DEFAULTS.cacheBytes,
  };
  const log = opts.log;
  const metrics = metricsFor(opts.registry);
  const cache = new ChunkCache(settings.cacheBytes);
  const rendered = renderedLookup(opts.renderedFiles ?? {});
  /** Transfers by client address:port (its TID); a repeated RRQ from it is a retransmission. */
  const transfers = new Map<string, { session?: Session; finished: Promise<void> }>();
  let closing = false;

  const listener = udpSocket(opts.host);
  await bind(listener, opts.host, opts.port);
  listener.on('error', (err) => log.error({ err }, 'tftp listener error'));
  listener.on('message', onRequest);

  function refuse(client: RemoteInfo, code: ErrorCode, message: string, result: string): void {
    metrics.requests.inc({ result });
    listener.send(encodeError(code, message), client.port, client.address);
  }

  function onRequest(message: Buffer, client: RemoteInfo): void {
    const parsed = parsePacket(message);
    if (!parsed.ok) {
      metrics.malformedPackets.inc();
      log.debug({ client: `${client.address}:${client.port}`, error: parsed.error }, 'tftp: malformed request dropped');
      return;
    }
    const packet = parsed.packet;
    const key = `${client.address}:${client.port}`;
    if (packet.type === 'WRQ') return refuse(client, ErrorCode.AccessViolation, 'write requests are not accepted', 'write_refused');
    if (packet.type !== 'RRQ') {
      log.debug({ client: key, type: packet.type }, 'tftp: packet without a transfer dropped');
      return;
    }
    if (closing) return;
    if (transfers.has(key)) {
      log.debug({ client: key }, 'tftp: repeated RRQ ignored');
      return;
    }
    if (transfers.size >= settings.maxSessions) return refuse(client, ErrorCode.NotDefined, 'server busy', 'busy');
    const entry: { session?: Session; finished: Promise<void> } = { finished: Promise.resolve() };
    transfers.set(key, entry);
    entry.finished = serveRead(packet, client, entry)
      .catch((err: Error) => log.error({ err, client: key }, 'tftp transfer failed'))
      .finally(() => transfers.delete(key));
  }

  async function openSource(request: RequestPacket): Promise<Opened> {
    if (request.mode === 'mail') return refusal(ErrorCode.IllegalOperation, 'mail mode is not supported', 'bad_mode');
    const segments = requestSegments(request.filename);
    const render = typeof segments === 'string' ? undefined : rendered.get(segments.join('/'));
    if (render) return { ok: true, source: asSource(Buffer.from(render()), request.mode) };
    const resolved = await resolveRequestPath(request.filename, opts.roots);
    if (!resolved.ok) {
      return refusal(resolved.code, resolved.message, resolved.code === ErrorCode.FileNotFound ? 'not_found' : 'access_violation');
    }
    return openFile(resolved.path, request.mode, cache);
  }

  async function serveRead(request: RequestPacket, client: RemoteInfo, entry: { session?: Session }): Promise<void> {
    const sessionLog = log.child({ client: `${client.address}:${client.port}`, file: request.filename });
    const socket = await sessionSocket(opts.host, client);
    let opened: Opened;
    try {
      opened = await openSource(request);
    } catch (err) {
      socket.send(encodeError(ErrorCode.NotDefined, 'cannot read file'), () => socket.close());
      throw err;
    }
    if (!opened.ok) {
      metrics.requests.inc({ result: opened.result });
      sessionLog.info({ code: opened.code, reason: opened.message }, 'tftp request refused');
      socket.send(encodeError(opened.code, opened.message), () => socket.close());
      return;
    }
    if (closing) {
      await opened.source.close();
      socket.close();
      return;
    }
    metrics.requests.inc({ result: 'accepted' });
    await runTransfer(request, opened.source, socket, sessionLog, entry);
  }

  async function runTransfer(request: RequestPacket, source: BlockSource, socket: Socket, sessionLog: Logger, entry: { session?: Session }): Promise<void> {
    const negotiated = negotiate(request.options, settings, source.size);
    const session = new Session({
      socket,
      source,
      blksize: negotiated.blksize,
      windowsize: negotiated.windowsize,
      oack: negotiated.oack,
      timeoutMs: negotiated.timeoutSeconds !== undefined ? negotiated.timeoutSeconds * 1000 : settings.timeoutMs,
      maxRetries: settings.retries,
      log: sessionLog,
    });
    entry.session = session;
    metrics.activeSessions.inc();
    const endTimer = metrics.duration.startTimer();
    const started = Date.now();
    session.start();
    const result: SessionResult = await session.done;
    metrics.activeSessions.dec();
    endTimer({ outcome: result.outcome });
    metrics.transfers.inc({ outcome: result.outcome });
    metrics.bytesSent.inc(result.bytes);
    metrics.blocksRetransmitted.inc(result.blocksRetransmitted);
    sessionLog.info(
      { outcome: result.outcome, bytes: result.bytes, ms: Date.now() - started, blksize: negotiated.blksize, windowsize: negotiated.windowsize, retransmitted: result.blocksRetransmitted },
      'tftp transfer ended',
    );
  }

  const address = listener.address();
  return {
    address: { host: address.address, port: address.port },
    async close() {
      closing = true;
      listener.close();
      for (const entry of transfers.values()) entry.session?.abort(new Error('server shutting down'), 'server shutting down');
      await Promise.all([...transfers.values()].map((entry) => entry.finished));
    },
  };
}
