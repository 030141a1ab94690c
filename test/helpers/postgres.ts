import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';

/**
 * A real PostgreSQL from Debian's packages, started once per test process on
 * a private port and data directory, stopped at the end (global teardown).
 * Installed by `make test` (scripts/setup/packages-test.txt).
 */
interface RunningPostgres {
  baseUrl: string;
  dataDir: string;
  process: ChildProcess;
}

let running: Promise<RunningPostgres> | null = null;
let databaseCounter = 0;

function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((v) => path.join(root, v, 'bin')).find((dir) => fs.existsSync(path.join(dir, 'initdb')));
  if (!found)
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql: run `make test` (it installs postgresql)',
    );
  return found;
}

/**
 * initdb refuses to run as root: as root, initdb and the server run as the
 * postgres system user, set directly on the child (not through runuser, whose
 * exit does not mean the server stopped).
 */
function postgresUser(): { uid: number; gid: number } | Record<string, never> {
  if (process.getuid?.() !== 0) return {};
  const [uid, gid] = ['-u', '-g'].map((flag) =>
    Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim()),
  );
  return { uid: uid!, gid: gid! };
}

async function start(): Promise<RunningPostgres> {
  const bin = postgresBinDir();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-pg-'));
  fs.chmodSync(dataDir, 0o755);
  if (process.getuid?.() === 0) execFileSync('chown', ['postgres:postgres', dataDir]);
  const user = postgresUser();
  execFileSync(
    path.join(bin, 'initdb'),
    ['-D', path.join(dataDir, 'db'), '-A', 'trust', '-U', 'homeport', '--no-sync'],
    { stdio: 'pipe', cwd: dataDir, ...user },
  );
  const port = await freePort();
  const args = [
    '-D',
    path.join(dataDir, 'db'),
    '-p',
    String(port),
    '-k',
    dataDir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'max_connections=200',
    '-c',
    'fsync=on',
  ];
  const child = spawn(path.join(bin, 'postgres'), args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: dataDir, ...user });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await waitForPort(port, 15_000, () => stderr);
  return { baseUrl: `postgres://homeport@127.0.0.1:${port}`, dataDir, process: child };
}

async function waitForPort(port: number, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.end();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok && /ready to accept connections/.test(log())) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`PostgreSQL did not start within ${timeoutMs} ms:\n${log()}`);
}

export async function testPostgres(): Promise<RunningPostgres> {
  running ??= start();
  return running;
}

/** A fresh, empty database on the test server; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const pg = await testPostgres();
  const name = `t_${process.pid}_${++databaseCounter}`;
  const { default: Pg } = await import('pg');
  const client = new Pg.Client({ connectionString: `${pg.baseUrl}/postgres` });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  return `${pg.baseUrl}/${name}`;
}

export async function stopTestPostgres(): Promise<void> {
  if (!running) return;
  const pg = await running;
  running = null;
  pg.process.kill('SIGINT'); // fast shutdown
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      pg.process.kill('SIGKILL');
      resolve();
    }, 10_000);
    pg.process.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  fs.rmSync(pg.dataDir, { recursive: true, force: true });
}
