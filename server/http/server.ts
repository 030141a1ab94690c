import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';

export interface RunningHttpServer {
  server: http.Server;
  address: AddressInfo;
  /** Stops accepting, lets in-flight requests finish (bounded), closes idle keep-alives. */
  close(graceMs?: number): Promise<void>;
}

export async function listenHttp(app: Koa, host: string, port: number): Promise<RunningHttpServer> {
  const server = http.createServer(app.callback());
  server.keepAliveTimeout = 5_000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
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
