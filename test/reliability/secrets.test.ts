/**
 * No secret reaches the log. Real `homeport serve` processes at debug level,
 * all of their stdout and stderr kept, run through everything that handles a
 * secret: admin calls (right and wrong token), phone-home with node tokens
 * (and a wrong one), boot scripts that embed a node token, a webhook delivery
 * signed with its secret (and a failing receiver, so retries are logged), a
 * Redfish reprovision against a stand-in BMC (which also refuses once, echoing
 * the password), and an SSH reprovision with a passphrase-protected key.
 * Then none of the secret values appears anywhere in the output.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { roundTokenFor } from '../helpers/round-token.js';
import { startServerProcess, type ServerProcess } from '../helpers/cli.js';
import { sleep } from '../helpers/netns.js';
import { installNodeStubs } from '../helpers/node-stubs.js';
import { sshEnv } from '../helpers/ssh-fixture.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';

const ADMIN_TOKEN = 'admin-Tok3n-c0ffee-5ecret-0001';
const SERVER_SECRET = 'server-S3cret-for-node-tokens-0002';
const REDFISH_PASSWORD = 'bmc-Passw0rd-0003';
const WEBHOOK_SECRET = 'webhook-S3cret-0004-abcdef';
const SSH_PASSPHRASE = 'ssh-Passphr4se-0005';
const NODE = { mac: '52:54:00:5e:00:01', hostname: 'pve1', ip: '127.0.0.2' };

/** A stand-in HTTP server that records requests and answers from a script (then 204). */
async function recordingServer(
  answers: { status: number; body?: string }[],
): Promise<{ server: http.Server; url: string; requests: { url: string; headers: http.IncomingHttpHeaders }[] }> {
  const requests: { url: string; headers: http.IncomingHttpHeaders }[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push({ url: req.url ?? '', headers: req.headers });
      const answer = answers.shift() ?? { status: 204 };
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

describe('secrets never reach the log', function () {
  this.timeout(120_000);
  let dir: string;
  let sshd: TestSshd;
  const servers: http.Server[] = [];
  const processes: ServerProcess[] = [];

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-secrets-'));
    fs.mkdirSync(path.join(dir, 'data'));
    // Given, not generated: a generated admin token is printed once on purpose.
    fs.writeFileSync(path.join(dir, 'data', 'admin.token'), `${ADMIN_TOKEN}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'data', 'secret'), `${SERVER_SECRET}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'redfish.password'), `${REDFISH_PASSWORD}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'ssh.passphrase'), `${SSH_PASSPHRASE}\n`, { mode: 0o600 });
    sshd = await startTestSshd();
    installNodeStubs(sshd.binDir);
    // An encrypted client key, authorised on the test sshd.
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      SSH_PASSPHRASE,
      '-f',
      path.join(dir, 'encrypted_ed25519'),
    ]);
    fs.appendFileSync(path.join(sshd.dir, 'authorized_keys'), fs.readFileSync(path.join(dir, 'encrypted_ed25519.pub')));
  });

  after(async () => {
    for (const p of processes) await p.stop();
    for (const s of servers) await new Promise((resolve) => s.close(resolve));
    await sshd?.dispose();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  async function serve(env: Record<string, string>): Promise<ServerProcess> {
    const server = await startServerProcess({
      HOMEPORT_DATADIR: path.join(dir, 'data'),
      HOMEPORT_LOG__LEVEL: 'debug',
      HOMEPORT_WATCHER__ENABLED: 'false',
      ...env,
    });
    processes.push(server);
    return server;
  }

  const call = (
    server: ServerProcess,
    method: string,
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ) =>
    fetch(server.baseUrl + url, {
      method,
      headers: { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

  it('admin and node tokens, the webhook secret, the Redfish password and the SSH key passphrase stay out of all output', async () => {
    const bmc = await recordingServer([
      { status: 401, body: JSON.stringify({ error: { message: `bad password ${REDFISH_PASSWORD} for admin` } }) },
    ]);
    const hooks = await recordingServer([{ status: 500, body: 'try again' }]);
    servers.push(bmc.server, hooks.server);

    // Run 1: Redfish power method, webhooks, admin and phone-home traffic.
    const first = await serve({
      HOMEPORT_WEBHOOKS: JSON.stringify([{ url: `${hooks.url}/hook`, secret: WEBHOOK_SECRET, events: ['phase'] }]),
      HOMEPORT_REPROVISION__METHOD: 'redfish',
      HOMEPORT_REPROVISION__REDFISH__SCHEME: 'http',
      HOMEPORT_REPROVISION__REDFISH__USERNAME: 'admin',
      HOMEPORT_REPROVISION__REDFISH__PASSWORDFILE: path.join(dir, 'redfish.password'),
    });
    expect(
      (await call(first, 'POST', '/api/nodes', { ...NODE, labels: { bmc: new URL(bmc.url).host } }, admin)).status,
    ).to.equal(201);
    const token = await roundTokenFor(first.baseUrl, ADMIN_TOKEN, NODE.mac);
    expect(
      (await call(first, 'GET', '/api/nodes', undefined, { authorization: `Bearer ${ADMIN_TOKEN}x` })).status,
      'wrong admin token',
    ).to.equal(401);
    expect(
      (await call(first, 'POST', '/api/nodes/register', { mac: NODE.mac }, { 'x-homeport-token': token })).status,
    ).to.equal(200);
    expect(
      (
        await call(first, 'POST', '/api/status/phase', {
          mac: NODE.mac,
          phase: 'installation',
          token: `${token.slice(0, -1)}x`,
        })
      ).status,
      'wrong node token',
    ).to.equal(401);
    expect(
      (await call(first, 'POST', '/api/status/phase', { mac: NODE.mac, phase: 'installation', token })).status,
    ).to.equal(200);
    expect((await fetch(`${first.baseUrl}/boot/${NODE.mac}.ipxe`)).status).to.equal(200);
    const refused = await call(first, 'POST', '/api/reprovision', { nodes: [NODE.hostname] }, admin);
    expect(refused.status).to.equal(202);
    expect(JSON.stringify(await refused.json()), 'the BMC refused once').to.contain('401');
    expect((await call(first, 'POST', '/api/reprovision', { nodes: [NODE.hostname] }, admin)).status).to.equal(202);
    for (let i = 0; i < 100 && hooks.requests.length < 2; i++) await sleep(100); // the 500, then the retry
    expect(hooks.requests.length, 'webhook delivered after a retry').to.be.at.least(2);
    expect(hooks.requests[0]!.headers['x-homeport-signature']).to.match(/^sha256=/);
    expect(
      bmc.requests.some((r) => r.headers.authorization?.startsWith('Basic ')),
      'Redfish calls made with the password',
    ).to.equal(true);
    await first.stop();

    // Run 2: SSH reboot with a passphrase-protected key.
    const second = await serve({
      ...sshEnv(sshd),
      HOMEPORT_SSH__KEYFILE: path.join(dir, 'encrypted_ed25519'),
      HOMEPORT_SSH__KEYPASSPHRASEFILE: path.join(dir, 'ssh.passphrase'),
      HOMEPORT_REPROVISION__METHOD: 'ssh',
    });
    const viaSsh = await call(second, 'POST', '/api/reprovision', { nodes: [NODE.hostname] }, admin);
    const body = (await viaSsh.json()) as { nodes: { restart: unknown }[] };
    expect(body.nodes[0]!.restart, 'rebooted over SSH with the encrypted key').to.deep.equal({
      ok: true,
      detail: 'reboot over ssh',
    });
    await second.stop();

    const output = [first, second].map((p) => p.stdout() + p.stderr()).join('\n');
    // The paths that handle the secrets did log: the refused Redfish call (password masked), the SSH command, the boot script.
    for (const msg of ['reprovision restart failed', 'ssh command finished', 'boot script served'])
      expect(output, msg).to.contain(`"msg":"${msg}"`);
    for (const [name, secret] of Object.entries({
      ADMIN_TOKEN,
      SERVER_SECRET,
      REDFISH_PASSWORD,
      WEBHOOK_SECRET,
      SSH_PASSPHRASE,
      roundToken: token,
    })) {
      expect(output.includes(secret), `${name} appears in the output`).to.equal(false);
    }
  });
});
