import { expect } from 'chai';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { SHIPPED_CLIENTS_DIR } from '../../server/boot/paths.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { rawGet } from './helpers.js';

describe('HTTP boot: assets, iPXE binaries and clients', function () {
  this.timeout(30_000);
  let hp: TestHomeport;
  let kernel: Buffer;
  before(async () => {
    hp = await startTestHomeport();
    const assets = path.join(hp.dataDir, 'assets');
    fs.mkdirSync(path.join(assets, 'linux'), { recursive: true });
    kernel = crypto.randomBytes(3 * 1024 * 1024 + 17);
    fs.writeFileSync(path.join(assets, 'linux', 'vmlinuz'), kernel);
    fs.writeFileSync(path.join(hp.dataDir, 'outside.txt'), 'SECRET outside the assets directory');
    fs.symlinkSync(path.join(assets, 'linux', 'vmlinuz'), path.join(assets, 'alias'));
    fs.symlinkSync(path.join(hp.dataDir, 'outside.txt'), path.join(assets, 'escape'));
    fs.symlinkSync(hp.dataDir, path.join(assets, 'escape-dir'));
  });
  after(async () => hp?.stop());

  const get = (urlPath: string, headers: Record<string, string> = {}) => fetch(hp.baseUrl + urlPath, { headers });

  it('streams a whole file with its validators', async () => {
    const response = await get('/assets/linux/vmlinuz');
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-length')).to.equal(String(kernel.length));
    expect(response.headers.get('accept-ranges')).to.equal('bytes');
    expect(response.headers.get('etag')).to.match(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(Date.parse(response.headers.get('last-modified')!)).to.be.greaterThan(0);
    expect(Buffer.from(await response.arrayBuffer()).equals(kernel)).to.equal(true);
  });

  it('serves ranges (206) and refuses unsatisfiable ones (416)', async () => {
    const middle = await get('/assets/linux/vmlinuz', { range: 'bytes=1000-1999' });
    expect(middle.status).to.equal(206);
    expect(middle.headers.get('content-range')).to.equal(`bytes 1000-1999/${kernel.length}`);
    expect(Buffer.from(await middle.arrayBuffer()).equals(kernel.subarray(1000, 2000))).to.equal(true);
    const tail = await get('/assets/linux/vmlinuz', { range: 'bytes=-17' });
    expect(Buffer.from(await tail.arrayBuffer()).equals(kernel.subarray(kernel.length - 17))).to.equal(true);
    const open = await get('/assets/linux/vmlinuz', { range: `bytes=${kernel.length - 5}-` });
    expect(open.headers.get('content-length')).to.equal('5');
    await open.arrayBuffer();
    const beyond = await get('/assets/linux/vmlinuz', { range: `bytes=${kernel.length}-` });
    expect(beyond.status).to.equal(416);
    expect(beyond.headers.get('content-range')).to.equal(`bytes */${kernel.length}`);
    expect(((await beyond.json()) as { error: string }).error).to.equal('range_not_satisfiable');
  });

  it('serves ranges across the shared chunks byte for byte, to many clients at once, and a replaced file anew', async () => {
    // 3 MiB + 17 is 13 chunks of 256 KiB: ranges start and end inside, on and across chunk edges.
    const edge = 256 * 1024;
    const ranges: [number, number][] = [
      [0, 0],
      [edge - 1, edge],
      [edge, 2 * edge - 1],
      [edge - 5, 3 * edge + 5],
      [kernel.length - 17, kernel.length - 1],
      [12345, kernel.length - 1],
    ];
    const answers = await Promise.all(
      [...ranges, ...ranges].map(async ([from, to]) => {
        const response = await get('/assets/linux/vmlinuz', { range: `bytes=${from}-${to}` });
        return { from, to, status: response.status, body: Buffer.from(await response.arrayBuffer()) };
      }),
    );
    for (const { from, to, status, body } of answers) {
      expect(status, `${from}-${to}`).to.equal(206);
      expect(body.equals(kernel.subarray(from, to + 1)), `bytes ${from}-${to}`).to.equal(true);
    }
    const whole = await Promise.all(
      Array.from({ length: 8 }, async () => Buffer.from(await (await get('/assets/linux/vmlinuz')).arrayBuffer())),
    );
    for (const body of whole) expect(body.equals(kernel)).to.equal(true);
    // A new kernel under the same name (another inode and mtime): never the old cached chunks.
    const file = path.join(hp.dataDir, 'assets', 'linux', 'replaced');
    fs.writeFileSync(file, kernel);
    expect(Buffer.from(await (await get('/assets/linux/replaced')).arrayBuffer()).equals(kernel)).to.equal(true);
    const next = crypto.randomBytes(kernel.length);
    fs.writeFileSync(`${file}.new`, next);
    fs.renameSync(`${file}.new`, file);
    expect(Buffer.from(await (await get('/assets/linux/replaced')).arrayBuffer()).equals(next)).to.equal(true);
  });

  it('closes the file of every download the client abandons (no descriptor left behind)', async () => {
    // Far larger than the socket buffers on loopback: a client that stopped reading leaves the server mid-file.
    const big = path.join(hp.dataDir, 'assets', 'linux', 'big.img');
    fs.writeFileSync(big, crypto.randomBytes(48 * 1024 * 1024));
    const openFiles = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === big;
        } catch {
          return false;
        }
      }).length;
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 100 && !what(); i++) await new Promise((r) => setTimeout(r, 100));
    };
    for (let i = 0; i < 20; i++) {
      const controller = new AbortController();
      const response = await fetch(hp.baseUrl + '/assets/linux/big.img', { signal: controller.signal });
      const reader = response.body!.getReader();
      await reader.read(); // the first bytes arrived: the server is mid-file
      if (i === 0) {
        await until(() => openFiles() === 1);
        expect(openFiles(), 'the download holds the file open meanwhile').to.equal(1);
      }
      controller.abort();
      await reader.read().catch(() => undefined);
    }
    await until(() => openFiles() === 0);
    expect(openFiles(), 'open descriptors of the file after 20 abandoned downloads').to.equal(0);
  });

  it('answers 304 to a current ETag or date, and ignores a stale If-Range', async () => {
    const first = await get('/assets/linux/vmlinuz', { range: 'bytes=0-0' });
    const etag = first.headers.get('etag')!;
    const lastModified = first.headers.get('last-modified')!;
    await first.arrayBuffer();
    expect((await get('/assets/linux/vmlinuz', { 'if-none-match': etag })).status).to.equal(304);
    expect((await get('/assets/linux/vmlinuz', { 'if-modified-since': lastModified })).status).to.equal(304);
    const stale = await get('/assets/linux/vmlinuz', { range: 'bytes=0-9', 'if-range': '"stale"' });
    expect(stale.status).to.equal(200);
    await stale.arrayBuffer();
    const head = await fetch(`${hp.baseUrl}/assets/linux/vmlinuz`, { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.headers.get('content-length')).to.equal(String(kernel.length));
  });

  it('keeps every request inside the assets directory: .., encoded .., symlinks out', async () => {
    for (const urlPath of [
      '/assets/../outside.txt',
      '/assets/%2e%2e/outside.txt',
      '/assets/linux/..%2f..%2foutside.txt',
      '/assets/%2e%2e%2foutside.txt',
      '/assets/..%5coutside.txt',
      '/assets/escape',
      '/assets/escape-dir/outside.txt',
      '/assets/linux',
      '/assets/nope',
      '/assets/%00',
      '/assets/%zz',
    ]) {
      const response = await rawGet(hp.baseUrl, urlPath);
      expect(response.status, urlPath).to.be.oneOf([400, 404]);
      expect(response.body.toString(), urlPath).not.to.contain('SECRET');
    }
    const inside = await get('/assets/alias');
    expect(inside.status, 'a symlink that stays inside is fine').to.equal(200);
    expect(Buffer.from(await inside.arrayBuffer()).equals(kernel)).to.equal(true);
  });

  it("serves Debian's iPXE binaries and only the installer clients from scripts/", async () => {
    const undionly = await get('/ipxe/undionly.kpxe');
    expect(undionly.status).to.equal(200);
    expect(Buffer.from(await undionly.arrayBuffer()).equals(fs.readFileSync('/usr/lib/ipxe/undionly.kpxe'))).to.equal(
      true,
    );
    expect((await rawGet(hp.baseUrl, '/ipxe/../../etc/passwd')).body.toString()).not.to.contain('root:');
    for (const client of ['homeport-register', 'homeport-phase']) {
      const response = await get(`/clients/${client}`);
      expect(response.status, client).to.equal(fs.existsSync(path.join(SHIPPED_CLIENTS_DIR, client)) ? 200 : 404);
      await response.arrayBuffer();
    }
    expect((await get('/clients/setup')).status).to.equal(404);
    expect((await rawGet(hp.baseUrl, '/clients/..%2fpackage.json')).status).to.equal(404);
  });
});

describe('HTTP boot: a stalled download', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  afterEach(async () => hp?.stop());

  it('a client reading a byte a second is disconnected after boot.assetStallSeconds, and its descriptor closed', async () => {
    hp = await startTestHomeport({ env: { HOMEPORT_BOOT__ASSETSTALLSECONDS: '2' } });
    const big = path.join(hp.dataDir, 'assets', 'slow.img');
    fs.mkdirSync(path.dirname(big), { recursive: true });
    fs.writeFileSync(big, crypto.randomBytes(32 * 1024 * 1024));
    const held = () =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`) === big;
        } catch {
          return false;
        }
      }).length;
    const { port } = new URL(hp.baseUrl);
    const socket = net.connect({ host: '127.0.0.1', port: Number(port) });
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET /assets/slow.img HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause();
    let received = 0;
    socket.on('error', () => undefined); // the reset
    // One byte a second: the send buffers fill and the download takes no further chunk from homeport.
    const reader = setInterval(() => {
      const byte = socket.read(1) as Buffer | null;
      if (byte) received += byte.length;
    }, 1000);
    try {
      await new Promise((r) => setTimeout(r, 1000));
      expect(held(), 'the download holds the file meanwhile').to.equal(1);
      for (let i = 0; i < 150 && held() > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(held(), 'descriptor closed after the stall limit').to.equal(0);
      expect(received, 'it did read, slowly').to.be.above(0);
      // Read on now: what was in flight arrives, then the reset; never the whole file.
      clearInterval(reader);
      const closed = new Promise<boolean>((r) => socket.once('close', () => r(true)));
      socket.on('data', (c: Buffer) => (received += c.length));
      socket.resume();
      expect(
        await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]),
        'the server dropped the connection',
      ).to.equal(true);
      expect(received, 'bytes received of 32 MiB').to.be.below(32 * 1024 * 1024);
    } finally {
      clearInterval(reader);
      socket.destroy();
    }
  });
});
