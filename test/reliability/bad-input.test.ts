/**
 * Bad input the other suites do not already cover (see the README's
 * Reliability section for which test covers what): oversized bodies, slow
 * clients, deep nesting and wrong types, hostile labels and hostnames on the
 * admin API, and Windows-style TFTP paths over a real socket. Each answers
 * with a clear error, and the database is compared row for row before and after.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pino from 'pino';
import { ErrorCode } from '../../server/tftp/packet.js';
import { startTftpServer } from '../../server/tftp/server.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { sleep } from '../helpers/netns.js';
import { freeUdpPort, requestOnce } from '../tftp/helpers.js';

const MAC = '52:54:00:bd:00:01';

/**
 * Every row of every table, to prove a refused request wrote nothing. Left out:
 * migration bookkeeping, and the watcher's leader lease, which it renews on its own clock.
 */
async function snapshot(hp: TestHomeport): Promise<string> {
  const knex = hp.homeport.db.knex;
  const tables = ((await knex('sqlite_master').where({ type: 'table' }).select('name')) as { name: string }[])
    .map((t) => t.name)
    .filter((name) => !name.startsWith('knex_') && !name.startsWith('sqlite_') && name !== 'leader_leases')
    .sort();
  const rows: Record<string, unknown[]> = {};
  for (const table of tables) rows[table] = await knex(table).select('*');
  return JSON.stringify(rows);
}

/** Writes `chunks` to a raw TCP connection, one every `everyMs`; resolves with what the server sent and when it closed. */
function trickle(
  port: number,
  chunks: string[],
  everyMs: number,
): Promise<{ response: string; closedAfterMs: number; chunksSent: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(port, '127.0.0.1');
    let response = '';
    let sent = 0;
    const timer = setInterval(() => {
      if (sent < chunks.length && socket.writable) socket.write(chunks[sent++]!);
    }, everyMs);
    socket.on('data', (d) => (response += d.toString()));
    socket.on('error', () => undefined); // a reset is one way of being cut off
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ response, closedAfterMs: Date.now() - started, chunksSent: sent });
    });
  });
}

describe('bad input: a clear error and nothing written', function () {
  this.timeout(60_000);
  let hp: TestHomeport;

  before(async () => {
    hp = await startTestHomeport({
      env: { HOMEPORT_HTTP__HEADERSTIMEOUTMS: '1500', HOMEPORT_HTTP__REQUESTTIMEOUTMS: '3000' },
    });
    const created = await hp.request('POST', '/api/nodes', {
      admin: true,
      body: { mac: MAC, hostname: 'node-1', labels: { rack: 'r1' } },
    });
    expect(created.status).to.equal(201);
  });
  after(async () => hp?.stop());

  it('oversized JSON and form bodies get 413, on the phone-home and the admin API', async () => {
    const token = await hp.tokenFor(MAC);
    const before = await snapshot(hp);
    const big = 'x'.repeat(100 * 1024);
    const cases = [
      hp.request('POST', '/api/nodes/register', {
        body: { mac: MAC, hostname: big },
        headers: { 'x-homeport-token': token },
      }),
      hp.request('POST', '/api/status/phase', {
        body: `mac=${MAC}&phase=installation&message=${big}`,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }),
      hp.request('PATCH', `/api/nodes/${MAC}`, { admin: true, body: { labels: { rack: big } } }),
    ];
    for (const response of await Promise.all(cases)) {
      expect(response.status).to.equal(413);
      expect(response.body).to.deep.equal({
        error: 'payload_too_large',
        detail: 'request body is over the size limit',
      });
    }
    expect(await snapshot(hp)).to.equal(before);
  });

  it('JSON nested 10,000 deep and fields of the wrong type get 400 naming the field', async () => {
    const before = await snapshot(hp);
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    const token = { 'x-homeport-token': await hp.tokenFor(MAC) };
    const cases: [string, string, { body: unknown; admin?: boolean; headers?: Record<string, string> }, RegExp][] = [
      ['POST', '/api/nodes/register', { body: deep, headers: token }, /^body: must be a JSON object/],
      ['POST', '/api/nodes/register', { body: `{"mac": ${deep}}`, headers: token }, /^mac: must be a string/],
      [
        'POST',
        '/api/status/phase',
        {
          body: `{"mac": "${MAC}", "phase": "installation", "message": ${deep}, "token": "${await hp.tokenFor(MAC)}"}`,
        },
        /^message: must be a string/,
      ],
      ['POST', '/api/nodes/register', { body: { mac: { $gt: '' } }, headers: token }, /^mac: must be a string/],
      [
        'POST',
        '/api/status/phase',
        { body: { mac: MAC, phase: ['installation'], token: await hp.tokenFor(MAC) } },
        /^phase: must be a string/,
      ],
      [
        'POST',
        '/api/status/phase',
        { body: { mac: MAC, phase: 'installation', progress: '50%', token: await hp.tokenFor(MAC) } },
        /^progress: must be an integer/,
      ],
      ['PATCH', `/api/nodes/${MAC}`, { admin: true, body: { netboot_enabled: 'yes' } }, /^netboot_enabled: /],
      ['PATCH', `/api/nodes/${MAC}`, { admin: true, body: { labels: ['rack', 'r2'] } }, /^labels: /],
      ['POST', '/api/reprovision', { admin: true, body: { nodes: MAC } }, /^nodes: /],
      [
        'POST',
        '/api/reprovision',
        { admin: true, body: { nodes: [MAC], timeout_min: '5' } },
        /^timeout_min: must be a number/,
      ],
    ];
    for (const [method, url, options, detail] of cases) {
      const response = await hp.request(method, url, options);
      expect(response.status, `${method} ${url}: ${response.text}`).to.equal(400);
      expect(response.body.detail, `${method} ${url}`).to.match(detail);
    }
    expect(await snapshot(hp)).to.equal(before);
  });

  it('labels and hostnames carrying newlines, ${...}, quotes or ; are refused on the admin API', async () => {
    const before = await snapshot(hp);
    const hostile = ['r1\nchain http://evil', '${net0/mac}', '"r1"', "r1'", 'r1;reboot', 'r1 && reboot', '`id`'];
    for (const value of hostile) {
      const labelValue = await hp.request('PATCH', `/api/nodes/${MAC}`, {
        admin: true,
        body: { labels: { rack: value } },
      });
      expect(labelValue.status, value).to.equal(400);
      expect(labelValue.body.detail, value).to.match(/^labels\.rack: label values may hold/);
      const labelName = await hp.request('PATCH', `/api/nodes/${MAC}`, {
        admin: true,
        body: { labels: { [value]: 'r1' } },
      });
      expect(labelName.status, value).to.equal(400);
      const hostname = await hp.request('PATCH', `/api/nodes/${MAC}`, { admin: true, body: { hostname: value } });
      expect(hostname.body.detail, value).to.match(/^hostname: must be an RFC 1123 hostname/);
      const created = await hp.request('POST', '/api/nodes', {
        admin: true,
        body: { mac: '52:54:00:bd:00:03', cluster: value },
      });
      expect(created.body.detail, value).to.match(/^cluster: must be 1-63 letters/);
    }
    expect(await snapshot(hp)).to.equal(before);
  });

  it('a client sending its headers one byte at a time is cut off at the headers timeout, while a normal request is served', async () => {
    const port = Number(new URL(hp.baseUrl).port);
    const request = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
    const slow = trickle(port, [...request], 100); // 250 bytes over 25 s if nobody stops it
    await sleep(300);
    const normal = await hp.request('GET', '/healthz');
    expect(normal.status, 'served while the slow client holds its connection').to.equal(200);
    const result = await slow;
    expect(result.chunksSent, 'cut off before the headers were complete').to.be.below(request.length);
    expect(result.closedAfterMs).to.be.within(1400, 4000);
    expect(result.response).to.match(/^$|^HTTP\/1\.1 408/);
  });

  it('a client sending its body one byte at a time is cut off at the request timeout, and nothing is written', async () => {
    const before = await snapshot(hp);
    const port = Number(new URL(hp.baseUrl).port);
    const body = JSON.stringify({
      mac: MAC,
      phase: 'installation',
      token: await hp.tokenFor(MAC),
      message: 'y'.repeat(100),
    });
    const head = `POST /api/status/phase HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const result = await trickle(port, [head, ...body], 100);
    expect(result.chunksSent, 'cut off before the body was complete').to.be.below(body.length + 1);
    expect(result.closedAfterMs).to.be.within(2900, 6000);
    expect(result.response).to.match(/^$|^HTTP\/1\.1 408/);
    expect((await hp.request('GET', '/healthz')).status).to.equal(200);
    expect(await snapshot(hp)).to.equal(before);
  });
});

describe('bad input: TFTP paths with backslashes over a real socket', function () {
  this.timeout(30_000);
  let base: string;
  let port: number;
  let close: () => Promise<void>;

  before(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-bad-tftp-'));
    fs.mkdirSync(path.join(base, 'root', 'boot'), { recursive: true });
    fs.writeFileSync(path.join(base, 'secret'), 'outside the root');
    fs.writeFileSync(path.join(base, 'root', 'boot', 'ok.bin'), 'inside');
    const server = await startTftpServer({
      host: '127.0.0.1',
      port: await freeUdpPort(),
      roots: [path.join(base, 'root')],
      log: pino({ level: 'silent' }),
      workers: 0,
    });
    port = server.address.port;
    close = () => server.close();
  });
  after(async () => {
    await close?.();
    fs.rmSync(base, { recursive: true, force: true });
  });

  const cases: [string, number][] = [
    ['..\\secret', ErrorCode.AccessViolation],
    ['boot\\..\\..\\secret', ErrorCode.AccessViolation],
    ['\\..\\secret', ErrorCode.AccessViolation],
    ['C:\\secret', ErrorCode.FileNotFound],
  ];
  for (const [filename, code] of cases) {
    it(`${JSON.stringify(filename)} gets error ${code} and no data`, async () => {
      const reply = await requestOnce(port, { type: 'RRQ', filename, mode: 'octet', options: new Map() });
      expect(reply).to.deep.include({ type: 'ERROR', code });
    });
  }

  it('"boot\\\\ok.bin" is the file inside the root (backslash as a separator)', async () => {
    const reply = await requestOnce(port, { type: 'RRQ', filename: 'boot\\ok.bin', mode: 'octet', options: new Map() });
    expect(reply).to.deep.include({ type: 'DATA', block: 1 });
    expect(reply?.type === 'DATA' && reply.data.toString()).to.equal('inside');
  });
});
