import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RunningHttpServer {
  server: http.Server;
  address: AddressInfo;
  /** Stops accepting, lets in-flight requests finish (bounded), closes idle keep-alives. */
  close(graceMs?: number): Promise<void>;
}

export interface HttpTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

export async function listenHttp(
  listener: http.RequestListener,
  host: string,
  port: number,
  timeouts: HttpTimeouts = { headersTimeoutMs: 10_000, requestTimeoutMs: 60_000 },
): Promise<RunningHttpServer> {
  // Node enforces both timeouts only when it sweeps its connections (every 30 s
  // by default): sweep every second, so a slow client is cut off close to its limit.
  const server = http.createServer(
    { connectionsCheckingInterval: Math.min(1_000, timeouts.headersTimeoutMs) },
    listener,
  );
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A rack powering on at once opens hundreds of connections together; the
    // default backlog (511) drops SYNs and installers see connect timeouts.
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    address: server.address() as AddressInfo,
    close: (graceMs = 10_000) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
