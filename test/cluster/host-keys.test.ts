import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkHostCertificate, parseHostCertificate } from '../../server/ssh/certs.js';
import { createSshClient } from '../../server/ssh/client.js';
import { fingerprint, parseHostKeyLine } from '../../server/ssh/host-keys.js';
import { knownHostsVerdict, parseKnownHosts } from '../../server/ssh/known-hosts.js';
import { HostKeysRepo } from '../../server/store/host-keys.js';
import { captureLogger } from '../helpers/capture-log.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { sshRejection as rejection } from '../helpers/ssh-fixture.js';
import { installNodeStubs } from '../helpers/node-stubs.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';

const NODE_IP = '127.0.0.2';
const IMPOSTOR_IP = '127.0.0.3';
/** The impostor's second address, so each test's node has an address of its own. */
const IMPOSTOR_IP2 = '127.0.0.4';

function blobOf(publicKeyLine: string): Buffer {
  return Buffer.from(publicKeyLine.split(' ')[1]!, 'base64');
}

/**
 * Pinned host keys (issue 17), as an attacker on the boot network would try
 * them: a node's install registers its host key over real HTTP; a second sshd
 * with another host key stands at the address the node is then said to
 * have. homeport must refuse it before authenticating and send nothing.
 */
describe('ssh host keys pinned from the install (real sshd, real HTTP)', function () {
  this.timeout(90_000);
  let node: TestSshd;
  let impostor: TestSshd;
  let hp: TestHomeport;
  before(async () => {
    node = await startTestSshd({ listen: [NODE_IP] });
    impostor = await startTestSshd({ listen: [IMPOSTOR_IP, IMPOSTOR_IP2], port: node.port });
    installNodeStubs(node.binDir);
    installNodeStubs(impostor.binDir);
    hp = await startTestHomeport({
      env: {
        HOMEPORT_WATCHER__ENABLED: 'false',
        HOMEPORT_REPROVISION__METHOD: 'none',
        HOMEPORT_SSH__PORT: String(node.port),
        HOMEPORT_SSH__KEYFILE: node.keyFile,
        HOMEPORT_SSH__RETRIES: '1',
      },
    });
  });
  after(async () => {
    await hp?.stop();
    await impostor?.dispose();
    await node?.dispose();
  });

  /** The install's register call; an admin added the node first, with `ip` as the address homeport's SSH uses (a reported ip is never followed). */
  const register = async (mac: string, body: Record<string, unknown>) =>
    hp.request('POST', '/api/nodes/register', {
      body: { mac, token: await hp.tokenFor(mac, typeof body.ip === 'string' ? { ip: body.ip } : {}), ...body },
    });
  const pinnedClient = () =>
    createSshClient({
      user: 'root',
      port: node.port,
      keyFile: node.keyFile,
      hostKeys: 'pinned',
      knownHostsFile: path.join(node.dir, 'no_known_hosts'),
      pinnedHost: (host) => new HostKeysRepo(hp.homeport.db.knex).pinnedHostAt(host),
      connectTimeoutMs: 20_000,
      commandTimeoutMs: 30_000,
      log: captureLogger().log,
    });
  const keyRows = (mac: string) =>
    hp.homeport.db
      .knex('node_host_keys')
      .join('nodes', 'nodes.id', 'node_host_keys.node_id')
      .where('nodes.mac', mac)
      .select('key', 'fingerprint', 'round');

  it('register stores the host keys the install sends; a node whose pinned key matches connects', async () => {
    const mac = '52:54:00:aa:01:01';
    const response = await register(mac, { ip: NODE_IP, hostname: 'pin1', host_keys: [node.hostPublicKey] });
    expect(response.status, response.text).to.equal(200);
    const rows = await keyRows(mac);
    expect(rows.map((r: { fingerprint: string }) => r.fingerprint)).to.deep.equal([
      fingerprint(blobOf(node.hostPublicKey)),
    ]);
    const result = await pinnedClient().run(NODE_IP, 'echo pinned-ok');
    expect(result.stdout).to.equal('pinned-ok\n');
  });

  it("an impostor sshd at the node's address is refused before anything is sent; the error names the node and both fingerprints", async () => {
    const mac = '52:54:00:aa:01:02';
    expect(
      (await register(mac, { ip: '127.0.0.9', hostname: 'pin2', host_keys: [node.hostPublicKey] })).status,
    ).to.equal(200);
    // The node is then said to be at the impostor's address (a re-register, an ARP spoof: the same thing to homeport).
    expect(
      (await hp.request('PATCH', `/api/nodes/${mac}`, { admin: true, body: { ip: IMPOSTOR_IP } })).status,
    ).to.equal(200);
    const marker = path.join(impostor.dir, 'was-run');
    const err = await rejection(
      pinnedClient().run(IMPOSTOR_IP, `touch ${marker}`, {
        stdin: 'k3s-join-token-secret\n',
        secrets: ['k3s-join-token-secret'],
      }),
    );
    expect(err.kind).to.equal('auth');
    expect(err.commandNeverStarted).to.equal(true);
    expect(err.message).to.contain('pin2').and.contain(mac);
    expect(err.message)
      .to.contain(fingerprint(blobOf(impostor.hostPublicKey)))
      .and.contain(fingerprint(blobOf(node.hostPublicKey)));
    expect(fs.existsSync(marker), 'the command never ran on the impostor').to.equal(false);
    // No user authentication reached the impostor either (sshd logs accepted keys at ERROR level only on failure; its log has no session).
    expect(impostor.log()).not.to.match(/Accepted publickey/);
  });

  it("the watcher's readiness check refuses the impostor the same way (no row moves to completed)", async () => {
    const mac = '52:54:00:aa:01:03';
    expect(
      (await hp.request('POST', '/api/nodes', { admin: true, body: { mac, hostname: 'pin3', ip: IMPOSTOR_IP2 } }))
        .status,
    ).to.equal(201);
    expect((await hp.request('POST', '/api/reprovision', { admin: true, body: { nodes: [mac] } })).status).to.be.oneOf([
      200, 201, 202,
    ]);
    await waitFor(
      async () =>
        (await hp.request('GET', `/api/nodes/${mac}`, { admin: true })).body.reprovision_status === 'in_progress',
    );
    const done = await register(mac, { status: 'post-install-complete', host_keys: [node.hostPublicKey] });
    expect(done.status, done.text).to.equal(200);
    const report = await hp.homeport.reprovisioning.watcher.tick();
    const id = (await hp.request('GET', `/api/nodes/${mac}`, { admin: true })).body.id;
    const notReady = report.notReady.find((n) => n.id === id);
    expect(notReady?.detail)
      .to.contain(fingerprint(blobOf(impostor.hostPublicKey)))
      .and.contain(fingerprint(blobOf(node.hostPublicKey)));
    expect((await hp.request('GET', `/api/nodes/${mac}`, { admin: true })).body.reprovision_status).to.equal(
      'in_progress',
    );
  });

  it('within one install round the first keys stay: a second register with other keys changes nothing', async () => {
    const mac = '52:54:00:aa:01:04';
    expect((await register(mac, { ip: '127.0.0.10', host_keys: [node.hostPublicKey] })).status).to.equal(200);
    const before = await keyRows(mac);
    const again = await register(mac, { host_keys: [impostor.hostPublicKey] });
    expect(again.status).to.equal(200);
    expect(await keyRows(mac)).to.deep.equal(before);
  });

  it('refuses malformed host_keys with a 400 and writes nothing', async () => {
    const mac = '52:54:00:aa:01:05';
    const [type, key] = node.hostPublicKey.split(' ');
    const bad: unknown[] = [
      'ssh-ed25519 AAAA',
      [`ecdsa-sha2-nistp256 ${key}`], // an ed25519 blob declared as ECDSA
      [`${type} ${key} comment\nssh-ed25519 ${key}`],
      [`ssh-ed25519-cert-v01@openssh.com ${key}`],
      Array.from({ length: 9 }, () => node.hostPublicKey),
      [`${type} ${'A'.repeat(5000)}`],
    ];
    for (const host_keys of bad) {
      const response = await register(mac, { host_keys });
      expect(response.status, JSON.stringify(host_keys).slice(0, 80)).to.equal(400);
      expect(response.body.error).to.be.a('string');
    }
    expect(await keyRows(mac), 'no key pinned').to.deep.equal([]);
    expect(
      (await hp.request('GET', `/api/nodes/${mac}`, { admin: true })).body.reported_ip,
      'the node unchanged',
    ).to.equal(null);
  });
});

describe('known_hosts: @revoked and @cert-authority', () => {
  const key = execFileSync('sh', [
    '-c',
    'd=$(mktemp -d) && ssh-keygen -q -t ed25519 -N "" -f $d/k && cat $d/k.pub && rm -rf $d',
  ])
    .toString()
    .trim();
  const blob = blobOf(key);
  const [type, base64] = key.split(' ');

  it('accepts a listed key, with wildcards and negation as OpenSSH reads them', () => {
    const entries = parseKnownHosts(`*.lab,[10.0.0.*]:2222,!10.0.0.9 ${type} ${base64}\n`);
    expect(knownHostsVerdict(entries, 'pve1.lab', 22, blob).ok).to.equal(true);
    expect(knownHostsVerdict(entries, '10.0.0.4', 2222, blob).ok).to.equal(true);
    expect(knownHostsVerdict(entries, '10.0.0.4', 22, blob).ok).to.equal(false);
  });

  it('a @revoked key is refused even when it is also listed', () => {
    const entries = parseKnownHosts(`pve1 ${type} ${base64}\n@revoked * ${type} ${base64}\n`);
    const verdict = knownHostsVerdict(entries, 'pve1', 22, blob);
    expect(verdict).to.deep.include({ ok: false });
    expect(!verdict.ok && verdict.reason).to.match(/@revoked/);
  });

  it('a host under @cert-authority without a certificate is refused with the reason', () => {
    const entries = parseKnownHosts(`@cert-authority *.lab ${type} ${base64}\n`);
    const verdict = knownHostsVerdict(entries, 'pve1.lab', 22, blob);
    expect(!verdict.ok && verdict.reason).to.match(
      /no certificate from a @cert-authority vouches for it: the host presented no certificate/,
    );
  });

  it('parses .pub lines strictly', () => {
    expect(parseHostKeyLine(`${key} root@pve1`)).to.deep.equal({ type, key: base64 });
    expect(parseHostKeyLine(`${type} ${base64}=`)).to.have.property('error');
  });
});

/**
 * @cert-authority with real host certificates: ssh-keygen signs the test
 * sshd's host key, sshd offers the certificate, homeport fetches it with
 * ssh-keyscan -c and checks it against the session's key.
 */
describe('known_hosts @cert-authority with real host certificates (real sshd)', function () {
  this.timeout(90_000);
  let dir: string;
  const sshds: TestSshd[] = [];
  const keygen = (name: string, type: string) => {
    execFileSync('ssh-keygen', [
      '-q',
      '-t',
      type,
      ...(type === 'rsa' ? ['-b', '2048'] : []),
      '-N',
      '',
      '-C',
      name,
      '-f',
      path.join(dir, name),
    ]);
    return { file: path.join(dir, name), pub: fs.readFileSync(path.join(dir, `${name}.pub`), 'utf8').trim() };
  };
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-ca-'))));
  after(async () => {
    for (const sshd of sshds) await sshd.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async (options: Parameters<typeof startTestSshd>[0]) => {
    const sshd = await startTestSshd(options);
    sshds.push(sshd);
    return sshd;
  };
  const client = (
    sshd: TestSshd,
    knownHosts: string,
    overrides: Partial<Parameters<typeof createSshClient>[0]> = {},
  ) => {
    const knownHostsFile = path.join(dir, `known_hosts_${sshds.length}_${Math.random().toString(36).slice(2)}`);
    fs.writeFileSync(knownHostsFile, knownHosts);
    return createSshClient({
      user: 'root',
      port: sshd.port,
      keyFile: sshd.keyFile,
      hostKeys: 'known_hosts',
      knownHostsFile,
      connectTimeoutMs: 10_000,
      commandTimeoutMs: 30_000,
      log: captureLogger().log,
      ...overrides,
    });
  };

  for (const caType of ['ed25519', 'ecdsa', 'rsa']) {
    it(`accepts a host whose certificate a listed ${caType} CA signed for the address homeport connects to`, async () => {
      const ca = keygen(`ca_${caType}`, caType);
      const sshd = await start({
        listen: ['127.0.0.2'],
        hostCertificate: { caKeyFile: ca.file, principals: ['127.0.0.2', 'pve1.lab'] },
      });
      const result = await client(sshd, `@cert-authority * ${ca.pub}\n`).run('127.0.0.2', 'echo certified');
      expect(result.stdout).to.equal('certified\n');
    });
  }

  it('refuses a certificate from an unlisted CA, for another name, expired, or replayed by an impostor with another key', async () => {
    const ca = keygen('ca_main', 'ed25519');
    const other = keygen('ca_other', 'ed25519');
    const listed = `@cert-authority * ${ca.pub}\n`;
    const byOther = await start({
      listen: ['127.0.0.3'],
      hostCertificate: { caKeyFile: other.file, principals: ['127.0.0.3'] },
    });
    const refusal = async (sshd: TestSshd, host: string, knownHosts = listed, overrides = {}) =>
      (await rejection(client(sshd, knownHosts, overrides).probe(host))).message;
    expect(await refusal(byOther, '127.0.0.3')).to.match(/signed by a CA not listed/);
    const wrongName = await start({
      listen: ['127.0.0.4'],
      hostCertificate: { caKeyFile: ca.file, principals: ['127.0.0.99'] },
    });
    expect(await refusal(wrongName, '127.0.0.4')).to.match(/not valid for 127\.0\.0\.4/);
    const expired = await start({
      listen: ['127.0.0.5'],
      hostCertificate: { caKeyFile: ca.file, principals: ['127.0.0.5'], validity: '20200101:20200102' },
    });
    expect(await refusal(expired, '127.0.0.5')).to.match(/not valid at this time/);
    // The CA's certificate of a real host is public: an impostor (another key) that hands it out gains nothing.
    const real = await start({
      listen: ['127.0.0.6'],
      hostCertificate: { caKeyFile: ca.file, principals: ['127.0.0.6', '127.0.0.7'] },
    });
    const impostor = await start({ listen: ['127.0.0.7'], port: real.port });
    const replayed = fs.readFileSync(path.join(real.dir, 'host_ed25519-cert.pub'), 'utf8').split(' ')[1]!;
    const message = await refusal(impostor, '127.0.0.7', listed, {
      fetchCertificates: async () => [Buffer.from(replayed, 'base64')],
    });
    expect(message).to.match(/certifies another key than the one the host presented/);
    // A forged signature: the real certificate with its last signature byte changed.
    const forged = Buffer.from(
      fs.readFileSync(path.join(real.dir, 'host_ed25519-cert.pub'), 'utf8').split(' ')[1]!,
      'base64',
    );
    forged.writeUInt8(forged.readUInt8(forged.length - 1) ^ 1, forged.length - 1);
    const realKey = blobOf(real.hostPublicKey);
    expect(
      checkHostCertificate(parseHostCertificate(forged), {
        caKeys: [blobOf(ca.pub)],
        name: '127.0.0.6',
        sessionKey: realKey,
        now: Date.now(),
      }),
    ).to.deep.equal({ ok: false, reason: 'its CA signature does not verify' });
    // A @revoked CA counts for nothing.
    expect(await refusal(real, '127.0.0.6', `${listed}@revoked * ${ca.pub}\n`)).to.match(
      /no certificate from a @cert-authority|not listed/,
    );
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
