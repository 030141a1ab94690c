/**
 * homeport's TFTP server against real clients (tftp-hpa, atftp, curl) on
 * 127.0.0.1 and an unprivileged port, plus protocol-level checks with a raw client.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ErrorCode, type Packet } from '../../server/tftp/packet.js';
import { startTftpServer, type TftpServer, type TftpServerOptions } from '../../server/tftp/server.js';
import {
  clients,
  freeUdpPort,
  LossyProxy,
  RawClient,
  requestOnce,
  run,
  sha256File,
  writeRandomFile,
} from './helpers.js';

const MiB = 1024 * 1024;
const quiet = pino({ level: 'silent' });

describe('tftp server with real clients', function () {
  this.timeout(60_000);
  let base: string;
  let root: string;
  let second: string;
  let out: string;
  const sums: Record<string, string> = {};
  const servers: TftpServer[] = [];

  async function start(opts: Partial<TftpServerOptions> = {}): Promise<TftpServer> {
    const server = await startTftpServer({
      host: '127.0.0.1',
      port: await freeUdpPort(),
      roots: [root, second],
      log: quiet,
      workers: 0,
      ...opts,
    });
    servers.push(server);
    return server;
  }

  async function fetch([command, args]: [string, string[]], timeoutMs = 50_000) {
    const result = await run(command, args, timeoutMs);
    expect(result.code, `${command} ${args.join(' ')}: ${result.stderr}`).to.equal(0);
    return result;
  }

  before(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-tftp-'));
    root = path.join(base, 'root');
    second = path.join(base, 'ipxe');
    out = path.join(base, 'out');
    for (const dir of [root, second, out]) fs.mkdirSync(dir);
    writeRandomFile(path.join(root, 'one.bin'), MiB);
    writeRandomFile(path.join(root, 'quarter.bin'), MiB / 4);
    writeRandomFile(path.join(root, 'big.bin'), 64 * MiB);
    fs.writeFileSync(path.join(root, 'notes.txt'), 'first line\nsecond line\r\nlone cr\rend\n'.repeat(200));
    fs.writeFileSync(path.join(second, 'undionly.kpxe'), 'from the second root');
    fs.writeFileSync(path.join(base, 'secret'), 'outside every root');
    fs.symlinkSync(path.join(base, 'secret'), path.join(root, 'escape'));
  });

  before(async () => {
    for (const name of ['one.bin', 'quarter.bin', 'big.bin']) sums[name] = await sha256File(path.join(root, name));
  });

  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  after(() => fs.rmSync(base, { recursive: true, force: true }));

  const local = (name: string) => path.join(out, name);

  describe('checksums match', () => {
    let port: number;
    beforeEach(async () => (port = (await start({ workers: 1 })).address.port));

    it('tftp-hpa, lock-step 512, 1 MiB', async () => {
      await fetch(clients.tftpHpa(port, 'one.bin', local('hpa')));
      expect(await sha256File(local('hpa'))).to.equal(sums['one.bin']);
    });

    it('tftp-hpa asks with a leading slash', async () => {
      await fetch(clients.tftpHpa(port, '/one.bin', local('hpa-slash')));
      expect(await sha256File(local('hpa-slash'))).to.equal(sums['one.bin']);
    });

    it('atftp, blksize 1468 windowsize 8, 1 MiB and 64 MiB', async () => {
      for (const name of ['one.bin', 'quarter.bin', 'big.bin']) {
        await fetch(clients.atftp(port, name, local(`atftp-${name}`), { blksize: 1468, windowsize: 8 }));
        expect(await sha256File(local(`atftp-${name}`))).to.equal(sums[name]);
      }
    });

    it('curl --tftp-blksize 1468, 1 MiB and 64 MiB', async () => {
      for (const name of ['one.bin', 'quarter.bin', 'big.bin']) {
        await fetch(clients.curl(port, name, local(`curl-${name}`), 1468));
        expect(await sha256File(local(`curl-${name}`))).to.equal(sums[name]);
      }
    });

    it('atftp, blksize 512 windowsize 16, 64 MiB: block numbers roll over twice', async () => {
      await fetch(clients.atftp(port, 'big.bin', local('rollover'), { blksize: 512, windowsize: 16 }));
      expect(await sha256File(local('rollover'))).to.equal(sums['big.bin']);
    });

    it('netascii with tftp-hpa: the client converts back to the original text', async () => {
      await fetch(clients.tftpHpa(port, 'notes.txt', local('notes'), 'ascii'));
      expect(fs.readFileSync(local('notes'))).to.deep.equal(fs.readFileSync(path.join(root, 'notes.txt')));
    });

    it('a file found in the second root (Debian ipxe directory)', async () => {
      await fetch(clients.curl(port, 'undionly.kpxe', local('kpxe')));
      expect(fs.readFileSync(local('kpxe'), 'utf8')).to.equal('from the second root');
    });
  });

  it('serves rendered files by name, leading slash or not', async () => {
    let renders = 0;
    const script = () => `#!ipxe\nchain http://127.0.0.1:8080/boot/entry.ipxe?n=${++renders}\n`;
    const { port } = (await start({ renderedFiles: { 'autoexec.ipxe': script } })).address;
    await fetch(clients.curl(port, 'autoexec.ipxe', local('autoexec')));
    expect(fs.readFileSync(local('autoexec'), 'utf8')).to.equal(
      '#!ipxe\nchain http://127.0.0.1:8080/boot/entry.ipxe?n=1\n',
    );
    await fetch(clients.tftpHpa(port, '/autoexec.ipxe', local('autoexec2')));
    expect(fs.readFileSync(local('autoexec2'), 'utf8')).to.contain('?n=2');
  });

  describe('with packets dropped and duplicated', () => {
    const blocksOf = (bytes: number, blksize: number) => Math.floor(bytes / blksize) + 1;

    it('atftp windowsize 8 through 3% loss and 3% duplicates still gets the same bytes', async () => {
      const server = await start({ timeoutMs: 50, retries: 20 });
      const proxy = await LossyProxy.start(server.address.port, { dropRate: 0.03, duplicateRate: 0.03 });
      try {
        await fetch(clients.atftp(proxy.port, 'one.bin', local('lossy-atftp'), { blksize: 1468, windowsize: 8 }));
        expect(await sha256File(local('lossy-atftp'))).to.equal(sums['one.bin']);
      } finally {
        proxy.close();
      }
    });

    it("lock-step tftp-hpa through 5% loss and 5% duplicates: no Sorcerer's Apprentice storm", async () => {
      const server = await start({ timeoutMs: 50, retries: 20 });
      const proxy = await LossyProxy.start(server.address.port, { dropRate: 0.05, duplicateRate: 0.05, seed: 7 });
      try {
        await fetch(clients.tftpHpa(proxy.port, 'quarter.bin', local('lossy-hpa')));
        expect(await sha256File(local('lossy-hpa'))).to.equal(sums['quarter.bin']);
        // Answering duplicate ACKs would double every DATA from the first one on.
        expect(proxy.dataFromServer).to.be.below(1.3 * blocksOf(MiB / 4, 512));
      } finally {
        proxy.close();
      }
    });
  });

  describe('refusals', () => {
    let port: number;
    beforeEach(async () => (port = (await start()).address.port));

    const rrq = (filename: string | Buffer): Packet | Buffer =>
      typeof filename === 'string'
        ? { type: 'RRQ', filename, mode: 'octet', options: new Map() }
        : Buffer.concat([Buffer.from([0, 1]), filename, Buffer.from('\0octet\0')]);

    const cases: [string, string | Buffer, number][] = [
      ['../ traversal', '../secret', ErrorCode.AccessViolation],
      ['../../etc/passwd', '../../../../../../etc/passwd', ErrorCode.AccessViolation],
      ['an absolute path outside the roots', '/etc/passwd', ErrorCode.FileNotFound],
      ['a symlink pointing out of the root', 'escape', ErrorCode.AccessViolation],
      ['a missing file', 'nope.bin', ErrorCode.FileNotFound],
    ];
    for (const [name, filename, code] of cases) {
      it(`${name} gets error ${code}`, async () => {
        const reply = await requestOnce(port, rrq(filename));
        expect(reply).to.deep.include({ type: 'ERROR', code });
      });
    }

    it('traversal with tftp-hpa gets an error and no file content', async () => {
      const result = await run(...clients.tftpHpa(port, '../secret', local('secret')), 20_000);
      expect(result.stdout + result.stderr).to.match(/Error code 2/);
      expect(fs.existsSync(local('secret')) ? fs.readFileSync(local('secret'), 'utf8') : '').not.to.contain('outside');
    });

    it('a write request gets error 2 (access violation)', async () => {
      const reply = await requestOnce(port, { type: 'WRQ', filename: 'upload.bin', mode: 'octet', options: new Map() });
      expect(reply).to.deep.include({ type: 'ERROR', code: ErrorCode.AccessViolation });
      const upload = path.join(out, 'upload.txt');
      fs.writeFileSync(upload, 'data');
      const result = await run(
        'tftp',
        ['-m', 'binary', '127.0.0.1', String(port), '-c', 'put', upload, 'upload.txt'],
        20_000,
      );
      expect(result.stdout + result.stderr).to.match(/Error code 2/);
      expect(fs.existsSync(path.join(root, 'upload.txt'))).to.equal(false);
    });

    it('mail mode gets error 4', async () => {
      const reply = await requestOnce(port, { type: 'RRQ', filename: 'one.bin', mode: 'mail', options: new Map() });
      expect(reply).to.deep.include({ type: 'ERROR', code: ErrorCode.IllegalOperation });
    });

    it('malformed packets are dropped and the server keeps serving', async () => {
      const garbage = [
        Buffer.alloc(0),
        Buffer.from([0]),
        Buffer.from([0, 9, 1, 2]),
        Buffer.from([0, 1, 0x41]),
        Buffer.from([0, 4]),
        Buffer.alloc(70_000 / 2, 0xff),
      ];
      const client = await RawClient.open();
      for (const packet of garbage) client.send(packet, port);
      expect(await client.next(0, 300), 'no answer to garbage').to.equal(undefined);
      client.close();
      await fetch(clients.curl(port, 'one.bin', local('after-garbage')));
      expect(await sha256File(local('after-garbage'))).to.equal(sums['one.bin']);
    });
  });

  it('caps concurrent sessions with error 0 "server busy", and serves again once one ends', async () => {
    const { port } = (await start({ maxSessions: 1, timeoutMs: 200, retries: 2 })).address;
    const holder = await RawClient.open(); // asks and never ACKs: holds the only session until it times out
    try {
      holder.send({ type: 'RRQ', filename: 'one.bin', mode: 'octet', options: new Map() }, port);
      expect((await holder.next(0))?.packet).to.deep.include({ type: 'DATA', block: 1 });
      const refused = await requestOnce(port, { type: 'RRQ', filename: 'one.bin', mode: 'octet', options: new Map() });
      expect(refused).to.deep.equal({ type: 'ERROR', code: ErrorCode.NotDefined, message: 'server busy' });
      await new Promise((resolve) => setTimeout(resolve, 1000)); // 3 timeouts of 200 ms end the held session
      await fetch(clients.curl(port, 'one.bin', local('after-busy')));
    } finally {
      holder.close();
    }
  });

  it('retransmits an unacknowledged block no sooner than the timeout and at most a quarter of it late, after the last send', async () => {
    const timeoutMs = 400;
    const { port } = (await start({ timeoutMs, retries: 1 })).address;
    const client = await RawClient.open();
    try {
      client.send({ type: 'RRQ', filename: 'one.bin', mode: 'octet', options: new Map() }, port);
      const first = await client.next(0);
      const firstAt = performance.now();
      expect(first?.packet).to.deep.include({ type: 'DATA', block: 1 });
      // Progress 150 ms in: the next timeout counts from the DATA this ACK brings.
      await new Promise((resolve) => setTimeout(resolve, 150));
      client.send({ type: 'ACK', block: 1 }, first?.from.port ?? 0);
      expect((await client.next(1))?.packet).to.deep.include({ type: 'DATA', block: 2 });
      const lastSendAt = performance.now();
      const again = await client.next(2, 2000);
      const waited = performance.now() - lastSendAt;
      expect(again?.packet, 'block 2 again').to.deep.include({ type: 'DATA', block: 2 });
      expect(waited).to.be.within(timeoutMs - 20, timeoutMs * 1.25 + 100);
      expect(performance.now() - firstAt).to.be.above(150 + timeoutMs - 20);
    } finally {
      client.close();
    }
  });

  it('a repeated RRQ from the same client port does not start a second session', async () => {
    const { port } = (await start()).address;
    const client = await RawClient.open();
    try {
      const request: Packet = {
        type: 'RRQ',
        filename: 'one.bin',
        mode: 'octet',
        options: new Map([['blksize', '1468']]),
      };
      client.send(request, port);
      client.send(request, port);
      const first = await client.next(0);
      expect(first?.packet).to.deep.include({ type: 'OACK' });
      expect(await client.next(1, 300), 'one OACK only').to.equal(undefined);
      expect(first?.from.port).not.to.equal(port); // the session's own TID
    } finally {
      client.close();
    }
  });

  it('counts requests and transfers in prometheus metrics', async () => {
    const registry = new Registry();
    const { port } = (await start({ registry })).address;
    await fetch(clients.curl(port, 'one.bin', local('metrics')));
    await requestOnce(port, { type: 'WRQ', filename: 'x', mode: 'octet', options: new Map() });
    // The client exits on sending its last ACK, a moment before the server records the transfer.
    let text = '';
    for (let i = 0; i < 100 && !text.includes('outcome="completed"'); i++) {
      text = await registry.metrics();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(text).to.match(/homeport_tftp_transfers_total\{outcome="completed"\} 1/);
    expect(text).to.match(/homeport_tftp_requests_total\{result="write_refused"\} 1/);
    expect(text).to.match(/homeport_tftp_bytes_sent_total 1048576/);
  });

  it('close() ends transfers in progress', async () => {
    const server = await start({ workers: 1, timeoutMs: 60_000 });
    const client = await RawClient.open();
    try {
      client.send({ type: 'RRQ', filename: 'one.bin', mode: 'octet', options: new Map() }, server.address.port);
      expect((await client.next(0))?.packet).to.deep.include({ type: 'DATA', block: 1 });
      const started = Date.now();
      await server.close();
      servers.splice(servers.indexOf(server), 1);
      expect(Date.now() - started).to.be.below(5000);
      expect((await client.next(1))?.packet).to.deep.include({ type: 'ERROR', code: ErrorCode.NotDefined });
    } finally {
      client.close();
    }
  });
});
