/**
 * What the HTTP benchmarks share: a free loopback port, waiting for a server
 * to answer, random files of a given size, and nginx (one worker, sendfile)
 * serving a directory as the reference, from a config in the bench's temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Polls url every intervalMs until it answers 2xx (30 s at most). */
export async function waitHttp(url: string, intervalMs = 200): Promise<void> {
  for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`no answer from ${url}`);
}

/** A file of `mib` MiB of random bytes, readable by nginx's workers (nobody). */
export function writeRandomFile(file: string, mib: number): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  const fd = fs.openSync(file, 'w', 0o644);
  for (let i = 0; i < mib; i++) fs.writeSync(fd, crypto.randomBytes(1024 * 1024));
  fs.closeSync(fd);
}

/**
 * nginx serving `root` on a free loopback port (extra `server` directives
 * allowed); the child goes into `children` for the bench's clean-up.
 * Resolves to its base URL once `probePath` answers.
 */
export async function startNginx(
  work: string,
  root: string,
  children: ChildProcess[],
  probePath: string,
  serverExtra = '',
): Promise<string> {
  const port = await freePort();
  const conf = path.join(work, 'nginx.conf');
  fs.mkdirSync(path.join(work, 'nginx'), { recursive: true });
  fs.writeFileSync(
    conf,
    `worker_processes 1;
pid ${work}/nginx/nginx.pid;
error_log ${work}/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${work}/nginx/body;
  proxy_temp_path ${work}/nginx/proxy;
  fastcgi_temp_path ${work}/nginx/fastcgi;
  uwsgi_temp_path ${work}/nginx/uwsgi;
  scgi_temp_path ${work}/nginx/scgi;
  server { listen 127.0.0.1:${port}; root ${root}; ${serverExtra} }
}
`,
  );
  children.push(spawn('nginx', ['-c', conf, '-g', 'daemon off;'], { stdio: 'ignore' }));
  const base = `http://127.0.0.1:${port}`;
  await waitHttp(base + probePath);
  return base;
}
