/**
 * Regenerates test/fixtures/tftp/*.bin from real clients (a few seconds, no root):
 *   node --import tsx test/helpers/capture-tftp-fixtures.ts
 * homeport's TFTP server runs on loopback behind a recording proxy (LossyProxy
 * with no loss); tftp-hpa, atftp and curl each fetch a small file, and
 * tftp-hpa tries an upload. Every first packet per (client, opcode) is saved raw.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parsePacket } from '../../server/tftp/packet.js';
import { startTftpServer } from '../../server/tftp/server.js';
import { clients, freeUdpPort, LossyProxy, run } from '../tftp/helpers.js';

const FIXTURES = path.resolve(import.meta.dirname, '../fixtures/tftp');

async function main(): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-tftp-capture-'));
  const root = path.join(tmp, 'root');
  fs.mkdirSync(root);
  fs.writeFileSync(path.join(root, 'small.bin'), Buffer.alloc(3000, 7));
  fs.writeFileSync(path.join(root, 'notes.txt'), 'line one\nline two\n');
  const server = await startTftpServer({
    host: '127.0.0.1',
    port: await freeUdpPort(),
    roots: [root],
    log: pino({ level: 'silent' }),
    workers: 0,
  });
  try {
    fs.mkdirSync(FIXTURES, { recursive: true });
    const runs: [string, (port: number) => [string, string[]]][] = [
      ['tftp-hpa', (port) => clients.tftpHpa(port, 'small.bin', path.join(tmp, 'a'))],
      ['tftp-hpa-netascii', (port) => clients.tftpHpa(port, 'notes.txt', path.join(tmp, 'b'), 'ascii')],
      [
        'atftp',
        (port) =>
          clients.atftp(port, 'small.bin', path.join(tmp, 'c'), { blksize: 1468, windowsize: 4, tsize: 0, timeout: 2 }),
      ],
      ['curl', (port) => clients.curl(port, 'small.bin', path.join(tmp, 'd'), 1024)],
      [
        'tftp-hpa-put',
        (port) => [
          'tftp',
          ['-m', 'binary', '127.0.0.1', String(port), '-c', 'put', path.join(root, 'notes.txt'), 'upload.txt'],
        ],
      ],
    ];
    for (const [client, command] of runs) {
      const seen = new Set<string>();
      const proxy = await LossyProxy.start(server.address.port, {
        dropRate: 0,
        duplicateRate: 0,
        onClientPacket: (message) => {
          const parsed = parsePacket(message);
          const type = parsed.ok ? parsed.packet.type.toLowerCase() : 'malformed';
          if (seen.has(type)) return;
          seen.add(type);
          fs.writeFileSync(path.join(FIXTURES, `${client}-${type}.bin`), message);
          console.log(`saved ${client}-${type}.bin (${message.length} bytes)`);
        },
      });
      try {
        await run(...command(proxy.port), 20_000);
      } finally {
        proxy.close();
      }
    }
  } finally {
    await server.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
