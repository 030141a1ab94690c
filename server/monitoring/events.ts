/**
 * Server-Sent Events fan-out of node and job changes (`GET /api/events`).
 *
 * One listener per source (the nodes service, the jobs service) serialises
 * each change once and writes it to every client. Clients are bounded (a full hub answers 503), a client
 * that stops reading is dropped once its buffer passes a limit (so one stuck
 * browser cannot hold memory), and a shared timer sends heartbeats so idle
 * proxies keep the connection and dead peers are noticed.
 */
import { PassThrough } from 'node:stream';
import type Koa from 'koa';
import type { Logger } from '../log/logger.js';
import type { NodeEvent } from '../nodes/service.js';

/** The message format: `retry:` hint, comments for heartbeats, `data:` lines for JSON. */
export const sse = {
  retry: (ms: number) => `retry: ${ms}\n\n`,
  comment: (text: string) => `: ${text.replace(/[\r\n]+/g, ' ')}\n\n`,
  // JSON.stringify never emits a raw newline, so one data line is one message.
  data: (value: unknown) => `data: ${JSON.stringify(value)}\n\n`,
};

/** Anything that emits `change` events: the nodes service, the jobs service. */
export interface ChangeSource<T> {
  on(event: 'change', listener: (event: T) => void): unknown;
  off(event: 'change', listener: (event: T) => void): unknown;
}

export interface EventHubOptions {
  maxClients: number;
  heartbeatMs: number;
  retryMs: number;
  /** A client whose unsent bytes exceed this is disconnected (it reconnects and re-fetches). */
  maxBufferedBytes?: number;
  log: Logger;
}

export class EventHub {
  private readonly clients = new Set<PassThrough>();
  private readonly heartbeat: NodeJS.Timeout;
  private closed = false;
  private readonly unfollows: (() => void)[] = [];

  constructor(
    source: ChangeSource<NodeEvent>,
    toJson: (event: NodeEvent) => unknown,
    private readonly options: EventHubOptions,
  ) {
    this.follow(source, toJson);
    this.heartbeat = setInterval(() => this.broadcast(sse.comment('heartbeat')), options.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Publishes another source's changes on the same streams (one listener on it, removed on close). */
  follow<T>(source: ChangeSource<T>, toJson: (event: T) => unknown): void {
    // Runs inside the source's emit, after commit: it must never throw into it.
    const onChange = (event: T) => {
      // Nobody listening (the usual case): skip serialising every phase report.
      if (this.clients.size === 0) return;
      try {
        this.broadcast(sse.data(toJson(event)));
      } catch (err) {
        this.options.log.error({ err }, 'could not publish a change to event streams');
      }
    };
    source.on('change', onChange);
    this.unfollows.push(() => source.off('change', onChange));
  }

  get size(): number {
    return this.clients.size;
  }

  /** Turns the request into an event stream; false when the hub is full or closing (the caller answers 503). */
  attach(ctx: Koa.Context): boolean {
    if (this.closed || this.clients.size >= this.options.maxClients) return false;
    const stream = new PassThrough();
    this.clients.add(stream);
    const detach = () => this.clients.delete(stream);
    stream.once('close', detach);
    ctx.res.once('close', () => {
      detach();
      stream.destroy();
    });
    // An event stream lives until the client leaves: no socket idle timeout.
    ctx.req.socket.setTimeout(0);
    ctx.req.socket.setNoDelay(true);
    ctx.status = 200;
    ctx.type = 'text/event-stream; charset=utf-8';
    ctx.set('Cache-Control', 'no-cache, no-transform');
    ctx.set('X-Accel-Buffering', 'no'); // nginx in front: do not buffer
    // The socket is this stream's alone: when the stream ends (shutdown), close it
    // rather than leave it idle in keep-alive, where it would hold server.close().
    ctx.set('Connection', 'close');
    ctx.body = stream;
    stream.write(sse.retry(this.options.retryMs) + sse.comment('connected'));
    return true;
  }

  /** Ends every stream (shutdown: lets the HTTP server close at once) and stops listening. */
  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const unfollow of this.unfollows.splice(0)) unfollow();
    for (const client of this.clients) client.end();
    this.clients.clear();
  }

  private broadcast(message: string): void {
    const limit = this.options.maxBufferedBytes ?? 1024 * 1024;
    for (const client of this.clients) {
      try {
        client.write(message);
        if (client.writableLength > limit) {
          this.options.log.warn(
            { buffered: client.writableLength },
            'event stream client is not reading; disconnecting it',
          );
          client.destroy();
        }
      } catch (err) {
        this.options.log.warn({ err }, 'event stream write failed; disconnecting the client');
        client.destroy();
      }
    }
  }
}
