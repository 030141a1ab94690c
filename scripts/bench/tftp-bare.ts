/**
 * The ceiling for any TFTP server written on Node's dgram, for the TFTP
 * benchmark (scripts/bench/tftp-bench.ts --ceiling): lock-step RRQ serving
 * from memory over a connected socket per transfer, with no file I/O, no path checks, no session table, no
 * metrics, no logging: the least per-block work a Node server can do. One
 * process per core (node:cluster shares the listening socket), as homeport
 * runs one worker per core.
 *
 *   node --import tsx scripts/bench/tftp-bare.ts PORT DIR
 *
 * Not a server to use: it trusts the file name and keeps every file in memory.
 */
import cluster from 'node:cluster';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const [portArg = '', dir = ''] = process.argv.slice(2);
const RETRANSMIT_MS = 1_000;
const MAX_RETRIES = 5;

function rrqOf(msg: Buffer): { file: string; options: Map<string, string> } | null {
  if (msg.readUInt16BE(0) !== 1) return null;
  const fields = msg.subarray(2).toString('latin1').split('\0');
  const options = new Map<string, string>();
  for (let i = 2; i + 1 < fields.length; i += 2) options.set(fields[i]!.toLowerCase(), fields[i + 1]!);
  return { file: fields[0]!, options };
}

function serveTransfer(data: Buffer, options: Map<string, string>, rinfo: dgram.RemoteInfo): void {
  const blksize = options.has('blksize') ? Math.min(65464, Number(options.get('blksize'))) : 512;
  const socket = dgram.createSocket('udp4');
  const lastBlock = Math.floor(data.length / blksize) + 1;
  let block = 0; // the block in flight; 0 = the OACK
  let retries = 0;
  let timer: NodeJS.Timeout | undefined;
  const header = Buffer.alloc(4);
  header.writeUInt16BE(3, 0);
  const send = () => {
    if (block === 0) {
      const acked = [
        ...(options.has('blksize') ? ['blksize', String(blksize)] : []),
        ...(options.has('tsize') ? ['tsize', String(data.length)] : []),
      ];
      socket.send(Buffer.from(`\0\x06${acked.join('\0')}\0`, 'latin1'));
    } else {
      // Connected socket, header and payload gathered by the kernel: no lookup, no copy.
      header.writeUInt16BE(block & 0xffff, 2);
      socket.send([header, data.subarray((block - 1) * blksize, block * blksize)]);
    }
    clearTimeout(timer);
    timer = setTimeout(() => (++retries > MAX_RETRIES ? finish() : send()), RETRANSMIT_MS);
  };
  const finish = () => {
    clearTimeout(timer);
    socket.close();
  };
  socket.on('message', (msg) => {
    if (msg.length < 4 || msg.readUInt16BE(0) !== 4 || msg.readUInt16BE(2) !== (block & 0xffff)) return;
    if (block === lastBlock) return finish();
    block++;
    retries = 0;
    send();
  });
  // exclusive: this worker's own socket, not one shared through the cluster primary.
  socket.bind({ port: 0, address: '127.0.0.1', exclusive: true }, () =>
    socket.connect(rinfo.port, rinfo.address, () => {
      if (!options.has('blksize') && !options.has('tsize')) block = 1;
      send();
    }),
  );
}

function worker(): void {
  const files = new Map<string, Buffer>();
  const listener = dgram.createSocket('udp4');
  listener.on('message', (msg, rinfo) => {
    const rrq = rrqOf(msg);
    if (!rrq) return;
    const name = path.basename(rrq.file);
    let data = files.get(name);
    if (!data) files.set(name, (data = fs.readFileSync(path.join(dir, name))));
    serveTransfer(data, rrq.options, rinfo);
  });
  listener.bind(Number(portArg), '127.0.0.1');
}

if (cluster.isPrimary) {
  for (let i = 0; i < os.availableParallelism(); i++) cluster.fork();
  process.once('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else worker();
