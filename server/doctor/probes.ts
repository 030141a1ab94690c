/**
 * The facts `homeport doctor` judges (the edge: sockets, /proc, /sys, files,
 * the database). Nothing here decides ok/warn/fail; checks.ts does.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { confinedRealPath, safeSegments } from '../boot/assets.js';
import type { Config } from '../config/schema.js';
import { pendingMigrations, openDatabase, pingDatabase } from '../store/db.js';
import { resolveRequestPath } from '../tftp/paths.js';
import { DhcpLeasesRepo } from '../store/dhcp-leases-repo.js';
import { HostKeysRepo } from '../store/host-keys.js';
import { NodesRepo } from '../store/nodes-repo.js';
import { findReservationConflicts, usableReservations } from '../dhcp/reservations.js';
import type {
  AssetLookup,
  BinaryLookup,
  DatabaseFacts,
  FirmwareKind,
  InterfaceFacts,
  PortProbe,
  PortUse,
  ReservationFacts,
  UnpinnedFacts,
} from './checks.js';

const DATABASE_TIMEOUT_MS = 5000;

// ---------------------------------------------------------------- database

export async function databaseFacts(database: Config['database']): Promise<DatabaseFacts> {
  const kind = database.url ? 'postgres' : 'sqlite';
  const where = database.url ? redactUrl(database.url) : database.sqlitePath;
  // Opening a SQLite path creates the file: a doctor only looks.
  if (!database.url && !fs.existsSync(database.sqlitePath)) return { kind: 'sqlite', where, state: 'missing' };
  const db = openDatabase({ url: database.url, ...database });
  try {
    const pending = await withTimeout(
      pingDatabase(db.knex).then(() => pendingMigrations(db.knex)),
      DATABASE_TIMEOUT_MS,
      `no answer within ${DATABASE_TIMEOUT_MS / 1000} s`,
    );
    // Only on an up-to-date schema: an older one may have no nodes table yet.
    const nodeProfiles =
      pending.length === 0
        ? await withTimeout(
            new NodesRepo(db.knex).profiles(),
            DATABASE_TIMEOUT_MS,
            `no answer within ${DATABASE_TIMEOUT_MS / 1000} s`,
          )
        : undefined;
    await db.close();
    return { kind, where, state: 'reachable', pending, nodeProfiles };
  } catch (err) {
    // knex keeps retrying a refused connection until its acquire timeout; the CLI exits without waiting for it.
    void db.close().catch(() => undefined);
    return { kind, where, state: 'unreachable', error: (err as Error).message.split('\n')[0]! };
  }
}

/** The nodes' addresses DHCP would skip or cannot honour now; null outside full mode or without a database (a doctor only looks). */
export async function reservationFacts(config: Config): Promise<ReservationFacts> {
  const { mode, serverIp, pool } = config.dhcp;
  if (mode !== 'full' || !pool) return null;
  if (!config.database.url && !fs.existsSync(config.database.sqlitePath)) return null;
  const db = openDatabase({ url: config.database.url, ...config.database });
  try {
    const repo = new DhcpLeasesRepo(db.knex);
    const [stored, leases] = await withTimeout(
      Promise.all([repo.loadReservations(), repo.loadAll()]),
      DATABASE_TIMEOUT_MS,
      'no answer',
    );
    const { usable, skipped } = usableReservations(new Map([...stored].map(([mac, { ip }]) => [mac, ip])), {
      serverIp,
      pool,
    });
    return { skipped, conflicts: findReservationConflicts(usable, leases, Date.now()) };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0]! };
  } finally {
    void db.close().catch(() => undefined);
  }
}

/** Under ssh.hostKeys pinned: the nodes SSH could reach that have no pinned key (null: not pinned mode, or no database yet). */
export async function unpinnedFacts(config: Config): Promise<UnpinnedFacts> {
  if (config.ssh.hostKeys !== 'pinned') return null;
  if (!config.database.url && !fs.existsSync(config.database.sqlitePath)) return null;
  const db = openDatabase({ url: config.database.url, ...config.database });
  try {
    return await withTimeout(new HostKeysRepo(db.knex).unpinnedNodes(), DATABASE_TIMEOUT_MS, 'no answer');
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0]! };
  } finally {
    void db.close().catch(() => undefined);
  }
}

function redactUrl(url: string): string {
  return url.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@');
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- interface

/** Read as the DHCP server reads it at start (dhcp/server.ts): /sys for existence, libuv's list for addresses. */
export function interfaceFacts(name: string): InterfaceFacts {
  const available = fs.existsSync('/sys/class/net') ? fs.readdirSync('/sys/class/net').sort() : [];
  const listed = os.networkInterfaces()[name];
  return {
    exists: available.includes(name),
    addresses: listed ? listed.filter((a) => a.family === 'IPv4').map((a) => a.address) : null,
    available,
  };
}

/** The interface's MAC, for the probe DISCOVER's chaddr. */
export function interfaceMac(name: string): string | null {
  try {
    return fs.readFileSync(`/sys/class/net/${name}/address`, 'utf8').trim();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- ports

/**
 * Tries to bind the port exclusively (no SO_REUSEADDR), so that any holder,
 * even one that shares its port with SO_REUSEADDR, makes it fail. When it is
 * held, /proc tells whose socket it is; if that cannot be read (another
 * user's process), a homeport answering /healthz is taken as the holder.
 */
export async function probePort(use: PortUse, homeportAnswers: () => Promise<boolean>): Promise<PortProbe> {
  const code = await tryBind(use);
  if (code === null) return { state: 'free' };
  if (code === 'EACCES') return { state: 'denied' };
  if (code !== 'EADDRINUSE') return { state: 'error', message: `cannot bind: ${code}` };
  const owner = socketOwner(use.proto, use.port);
  const byHomeport = owner ? owner.homeport : await homeportAnswers();
  return { state: 'held', owner: owner?.label ?? null, byHomeport };
}

function tryBind(use: PortUse): Promise<string | null> {
  return new Promise((resolve) => {
    const done = (err: NodeJS.ErrnoException | null, close: (cb: () => void) => void) =>
      close(() => resolve(err ? (err.code ?? err.message) : null));
    if (use.proto === 'udp') {
      const socket = dgram.createSocket({ type: use.host.includes(':') ? 'udp6' : 'udp4', reuseAddr: false });
      socket.once('error', (err) => done(err, (cb) => cb()));
      socket.bind({ address: use.host, port: use.port, exclusive: true }, () => done(null, (cb) => socket.close(cb)));
    } else {
      const server = net.createServer();
      server.once('error', (err) => done(err, (cb) => cb()));
      server.listen({ host: use.host, port: use.port, exclusive: true }, () =>
        done(null, (cb) => server.close(() => cb())),
      );
    }
  });
}

interface SocketOwner {
  label: string;
  homeport: boolean;
}

const TCP_LISTEN = '0A';

/** The process holding a local port, from /proc/net/* (this namespace) and /proc/PID/fd; null when unreadable. */
function socketOwner(proto: 'udp' | 'tcp', port: number): SocketOwner | null {
  const inodes = new Set<string>();
  for (const table of [`/proc/net/${proto}`, `/proc/net/${proto}6`]) {
    for (const line of readLines(table).slice(1)) {
      const cols = line.trim().split(/\s+/);
      const local = cols[1] ?? '';
      if (parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
      if (proto === 'tcp' && cols[3] !== TCP_LISTEN) continue;
      if (cols[9] && cols[9] !== '0') inodes.add(`socket:[${cols[9]}]`);
    }
  }
  if (inodes.size === 0) return null;
  for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    if (!processHoldsOne(pid, inodes)) continue;
    const comm = readText(`/proc/${pid}/comm`).trim();
    const cmdline = readText(`/proc/${pid}/cmdline`).split('\0').join(' ');
    return { label: `${comm || 'process'} (pid ${pid})`, homeport: isHomeportCommand(cmdline) };
  }
  return null;
}

/**
 * `bin/homeport serve` runs node on dist/server/cli/main.js (compiled) or server/cli/main.ts
 * (the sources, under tsx); an installed one may be named homeport.
 */
export function isHomeportCommand(cmdline: string): boolean {
  return /server\/cli\/main\.[jt]s\b.*\bserve\b/.test(cmdline) || /(^|\/)homeport serve\b/.test(cmdline);
}

function processHoldsOne(pid: string, inodes: ReadonlySet<string>): boolean {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // gone, or another user's
  }
  return fds.some((fd) => {
    try {
      return inodes.has(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      return false;
    }
  });
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function readLines(file: string): string[] {
  return readText(file).split('\n').filter(Boolean);
}

/** A homeport answering /healthz on the configured HTTP port of this host. */
export async function homeportHealthz(http: Config['http']): Promise<boolean> {
  const host = http.host === '0.0.0.0' || http.host === '::' ? '127.0.0.1' : http.host;
  try {
    const response = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${http.port}/healthz`, {
      signal: AbortSignal.timeout(2000),
    });
    const body = (await response.json()) as { status?: unknown; database?: unknown };
    return typeof body.status === 'string' && 'database' in body;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- files

/** Looks a boot file up the way the server that hands it out does: TFTP roots with confinement, or /ipxe/ under boot.ipxeDir. */
export async function lookupBinary(
  kind: FirmwareKind,
  tftpRoots: readonly string[],
  ipxeDir: string,
): Promise<BinaryLookup> {
  if (kind.via === 'tftp') {
    const resolved = await resolveRequestPath(kind.file, tftpRoots);
    if (resolved.ok) return { state: 'found', path: resolved.path };
    return resolved.message === 'file not found'
      ? { state: 'missing' }
      : { state: 'refused', reason: resolved.message };
  }
  const segments = kind.file.split('/').filter(Boolean);
  const real = await confinedRealPath(ipxeDir, segments);
  if (real) return { state: 'found', path: real };
  return fs.existsSync(path.join(ipxeDir, ...segments))
    ? { state: 'refused', reason: 'path leads outside the directory' }
    : { state: 'missing' };
}

/** A kernel or initrd reference: an http(s) URL is remote; anything else must be a file under assetsDir (as /assets/ serves it). */
export async function lookupAsset(ref: string, assetsDir: string): Promise<AssetLookup> {
  if (/^https?:\/\//i.test(ref)) return { ref, state: 'remote' };
  let segments: string[];
  try {
    segments = safeSegments(ref);
  } catch {
    return { ref, state: 'missing' };
  }
  return { ref, state: (await confinedRealPath(assetsDir, segments)) ? 'present' : 'missing' };
}
