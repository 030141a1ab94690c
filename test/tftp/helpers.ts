/**
 * Helpers for the TFTP tests and benchmark: free UDP ports, real clients run as
 * bounded child processes, random files, a raw one-packet client, and a lossy
 * UDP proxy.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import fs from 'node:fs';
import { once } from 'node:events';
import { encodePacket, parsePacket, type Packet } from '../../server/tftp/packet.js';

/** An unprivileged UDP port free on loopback right now. */
export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(resolve));
  return port;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command with a hard time limit; the child is killed by its pid when the limit passes. */
export function run(command: string, args: string[], timeoutMs: number): Promise<RunResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** Real TFTP clients, as [command, args]. */
export const clients = {
  /** tftp-hpa: plain RFC 1350 (no options), lock-step 512-byte blocks. */
  tftpHpa: (port: number, remote: string, local: string, mode: 'binary' | 'ascii' = 'binary'): [string, string[]] => [
    'tftp',
    ['-m', mode, '127.0.0.1', String(port), '-c', 'get', remote, local],
  ],
  atftp: (port: number, remote: string, local: string, options: Record<string, number> = {}): [string, string[]] => [
    'atftp',
    [
      ...Object.entries(options).flatMap(([name, value]) => ['--option', `${name} ${value}`]),
      '-g',
      '-r',
      remote,
      '-l',
      local,
      '127.0.0.1',
      String(port),
    ],
  ],
  curl: (port: number, remote: string, local: string, blksize?: number): [string, string[]] => [
    'curl',
    // -w prints the bytes received, so a run into /dev/null can still be checked.
    [
      '-sS',
      '--max-time',
      '300',
      '-w',
      '%{size_download}',
      ...(blksize ? ['--tftp-blksize', String(blksize)] : []),
      '-o',
      local,
      `tftp://127.0.0.1:${port}/${remote}`,
    ],
  ],
};

/** Writes `bytes` random bytes, 1 MiB at a time. */
export function writeRandomFile(path: string, bytes: number): void {
  const fd = fs.openSync(path, 'w');
  try {
    for (let written = 0; written < bytes; written += 1 << 20)
      fs.writeSync(fd, randomBytes(Math.min(1 << 20, bytes - written)));
  } finally {
    fs.closeSync(fd);
  }
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** A client socket that keeps the packets it receives, for protocol-level assertions. */
export class RawClient {
  readonly received: { packet: Packet | undefined; from: RemoteInfo }[] = [];
  private readonly socket: Socket = dgram.createSocket('udp4');
  private waiters: (() => void)[] = [];

  static async open(): Promise<RawClient> {
    const client = new RawClient();
    await new Promise<void>((resolve) => client.socket.bind(0, '127.0.0.1', resolve));
    client.socket.on('message', (message, from) => {
      const parsed = parsePacket(message);
      client.received.push({ packet: parsed.ok ? parsed.packet : undefined, from });
      for (const wake of client.waiters.splice(0)) wake();
    });
    return client;
  }

  send(packet: Packet | Buffer, port: number): void {
    this.socket.send(Buffer.isBuffer(packet) ? packet : encodePacket(packet), port, '127.0.0.1');
  }

  /** The next packet received (after `index`), or undefined once `timeoutMs` passes. */
  async next(index: number, timeoutMs = 2000): Promise<{ packet: Packet | undefined; from: RemoteInfo } | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length <= index) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.received[index];
  }

  close(): void {
    this.socket.close();
  }
}

/** Sends one request and returns the first answer (or undefined after the timeout). */
export async function requestOnce(
  port: number,
  packet: Packet | Buffer,
  timeoutMs = 2000,
): Promise<Packet | undefined> {
  const client = await RawClient.open();
  try {
    client.send(packet, port);
    return (await client.next(0, timeoutMs))?.packet;
  } finally {
    client.close();
  }
}

/**
 * A UDP proxy between TFTP clients and a server that drops and duplicates
 * packets in both directions. Clients talk to `port`; replies reach them from
 * that same port whatever the server's TID, which clients accept as the
 * server's TID. Randomness is seeded, so a failure can be replayed.
 */
export class LossyProxy {
  /** DATA packets forwarded from the server, to check that duplicates caused no storm. */
  dataFromServer = 0;
  private readonly front: Socket = dgram.createSocket('udp4');
  private readonly backs = new Map<string, { socket: Socket; serverPort: number }>();
  private seed: number;

  private constructor(
    private readonly serverPort: number,
    private readonly dropRate: number,
    private readonly duplicateRate: number,
    seed: number,
    private readonly onClientPacket: (message: Buffer) => void,
  ) {
    this.seed = seed;
  }

  /** `onClientPacket` sees every datagram a client sends (before any drop), e.g. to record fixtures. */
  static async start(
    serverPort: number,
    opts: { dropRate: number; duplicateRate: number; seed?: number; onClientPacket?: (message: Buffer) => void },
  ): Promise<LossyProxy> {
    const proxy = new LossyProxy(
      serverPort,
      opts.dropRate,
      opts.duplicateRate,
      opts.seed ?? 42,
      opts.onClientPacket ?? (() => undefined),
    );
    await new Promise<void>((resolve) => proxy.front.bind(0, '127.0.0.1', resolve));
    proxy.front.on('message', (message, client) => void proxy.fromClient(message, client));
    return proxy;
  }

  get port(): number {
    return this.front.address().port;
  }

  /** A small deterministic PRNG (LCG), in [0, 1). */
  private random(): number {
    this.seed = (this.seed * 1103515245 + 12345) % 2 ** 31;
    return this.seed / 2 ** 31;
  }

  /** Sends 0, 1 or 2 copies, by the drop and duplicate rates. */
  private forward(send: () => void): void {
    const draw = this.random();
    if (draw < this.dropRate) return;
    send();
    if (draw < this.dropRate + this.duplicateRate) send();
  }

  private async fromClient(message: Buffer, client: RemoteInfo): Promise<void> {
    this.onClientPacket(message);
    const key = `${client.address}:${client.port}`;
    const back = this.backs.get(key);
    if (back) {
      this.forward(() => back.socket.send(message, back.serverPort, '127.0.0.1'));
      return;
    }
    // The request itself always passes: a lost RRQ only tests the client's patience.
    const socket = dgram.createSocket('udp4');
    const entry = { socket, serverPort: this.serverPort };
    this.backs.set(key, entry);
    socket.on('message', (reply, server) => {
      entry.serverPort = server.port; // the server's TID for this transfer
      if (reply.readUInt16BE(0) === 3) this.dataFromServer++;
      this.forward(() => this.front.send(reply, client.port, client.address));
    });
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    socket.send(message, this.serverPort, '127.0.0.1');
  }

  close(): void {
    this.front.close();
    for (const { socket } of this.backs.values()) socket.close();
  }
}
