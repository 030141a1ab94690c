import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/ports.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';

const SCRIPTS = path.resolve('scripts');
const MAC = '52:54:00:bb:00:01';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a script under the given shell with a PATH holding only what an installer has. */
async function runScript(
  shell: string[],
  script: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Run> {
  const result = await runProcess(
    shell[0]!,
    [...shell.slice(1), path.join(SCRIPTS, script), ...args],
    { PATH: env.PATH ?? process.env.PATH!, ...env },
    timeoutMs,
  );
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

/**
 * A PATH with busybox applets only (wget, sed, tr, awk, ...), so the wget
 * branch runs exactly as in a busybox initramfs without curl.
 */
let busyboxDir: string | null = null;
function busyboxOnlyPath(): string {
  if (busyboxDir) return busyboxDir;
  busyboxDir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-bb-'));
  for (const applet of [
    'sh',
    'wget',
    'sed',
    'tr',
    'awk',
    'cat',
    'mktemp',
    'rm',
    'sleep',
    'basename',
    'hostname',
    'head',
    'printf',
  ]) {
    fs.symlinkSync('/bin/busybox', path.join(busyboxDir, applet));
  }
  return busyboxDir;
}

const variants: { name: string; shell: string[]; env: () => Record<string, string> }[] = [
  { name: 'sh (dash) with curl', shell: ['/bin/sh'], env: () => ({}) },
  { name: 'busybox sh with curl', shell: ['/bin/busybox', 'sh'], env: () => ({}) },
  {
    name: 'busybox sh with only busybox wget',
    shell: ['/bin/busybox', 'sh'],
    env: () => ({ PATH: busyboxOnlyPath(), HOMEPORT_HTTP_CLIENT: 'wget' }),
  },
];

describe('phone-home shell clients (scripts/)', function () {
  this.timeout(60_000);
  let hp: TestHomeport;
  before(async () => (hp = await startTestHomeport()));
  after(async () => {
    await hp.stop();
    if (busyboxDir) fs.rmSync(busyboxDir, { recursive: true, force: true });
    busyboxDir = null;
  });

  for (const variant of variants) {
    describe(variant.name, () => {
      const mac = (n: number) =>
        `52:54:00:bb:${variant.name.length.toString(16).padStart(2, '0')}:${n.toString(16).padStart(2, '0')}`;
      const env = async (m: string, extra: Record<string, string> = {}) => ({
        ...variant.env(),
        HOMEPORT_URL: hp.baseUrl,
        HOMEPORT_MAC: m,
        HOMEPORT_TOKEN: await hp.tokenFor(m),
        HOMEPORT_RETRY_DELAY: '0.2',
        ...extra,
      });

      it('registers, reports a phase sequence ending in deployed, and the server has it all', async () => {
        const m = mac(1);
        const registered = await runScript(
          variant.shell,
          'homeport-register',
          [],
          await env(m, {
            HOMEPORT_HOSTNAME: 'pve1',
            HOMEPORT_IP: '10.9.0.11',
            HOMEPORT_CLUSTER: 'lab',
            HOMEPORT_TYPE: 'proxmox',
          }),
        );
        expect(registered.code, registered.stderr).to.equal(0);
        for (const [phase, status, message] of [
          ['installation', 'in_progress', 'copying "base" files\\ to /dev/sda'],
          ['installation', 'completed', ''],
          ['post_install', 'completed', 'ok'],
          ['deployed', 'completed', 'done'],
        ]) {
          const result = await runScript(variant.shell, 'homeport-phase', [phase!, status!, message!], await env(m));
          expect(result.code, result.stderr).to.equal(0);
        }
        const node = await hp.request('GET', `/api/status/nodes/${m}`);
        expect(node.body).to.include({
          hostname: 'pve1',
          reported_ip: '10.9.0.11',
          cluster: 'lab',
          type: 'proxmox',
          deployment_status: 'deployed',
          netboot_enabled: false,
        });
        const history = await hp.request('GET', `/api/status/history/${m}`);
        expect(history.body.entries.map((e: { phase: string }) => e.phase)).to.deep.equal([
          'registered',
          'installation',
          'installation',
          'post_install',
          'deployed',
        ]);
        expect(history.body.entries[1].message, 'quotes and backslashes arrive intact').to.equal(
          'copying "base" files\\ to /dev/sda',
        );
      });

      it("register sends the machine's SSH host public keys, which homeport pins", async () => {
        const m = mac(5);
        const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-hostkeys-'));
        try {
          for (const type of ['ed25519', 'ecdsa'])
            execFileSync('ssh-keygen', [
              '-q',
              '-t',
              type,
              '-N',
              '',
              '-C',
              'root@pve5',
              '-f',
              path.join(keysDir, `ssh_host_${type}_key`),
            ]);
          const result = await runScript(
            variant.shell,
            'homeport-register',
            [],
            await env(m, { HOMEPORT_HOST_KEYS_DIR: keysDir }),
          );
          expect(result.code, result.stderr).to.equal(0);
          const stored = await hp.homeport.db
            .knex('node_host_keys')
            .join('nodes', 'nodes.id', 'node_host_keys.node_id')
            .where('nodes.mac', m)
            .orderBy('key_type')
            .select('key_type', 'key');
          const sent = ['ecdsa', 'ed25519'].map((type) =>
            fs
              .readFileSync(path.join(keysDir, `ssh_host_${type}_key.pub`), 'utf8')
              .split(' ')
              .slice(0, 2),
          );
          expect(stored.map((r: { key_type: string; key: string }) => [r.key_type, r.key])).to.deep.equal(sent);
        } finally {
          fs.rmSync(keysDir, { recursive: true, force: true });
        }
      });

      it('register --complete marks the install complete (seed 000 post-install)', async () => {
        const m = mac(2);
        const result = await runScript(
          variant.shell,
          'homeport-register',
          ['--complete'],
          await env(m, { HOMEPORT_HOSTNAME: 'pve2' }),
        );
        expect(result.code, result.stderr).to.equal(0);
        expect((await hp.request('GET', `/api/status/nodes/${m}`)).body).to.include({
          status: 'post-install-complete',
          deployment_status: 'deployed',
        });
      });

      it("exits 2 with the server's message when refused (wrong token, unknown phase)", async () => {
        const m = mac(3);
        const wrongToken = await runScript(
          variant.shell,
          'homeport-register',
          [],
          await env(m, { HOMEPORT_TOKEN: 'wrong' }),
        );
        expect(wrongToken.code).to.equal(2);
        expect(wrongToken.stderr).to.match(/refused \/api\/nodes\/register \(HTTP 401\)/);
        await runScript(variant.shell, 'homeport-register', [], await env(m));
        const unknown = await runScript(variant.shell, 'homeport-phase', ['teleporting'], await env(m));
        expect(unknown.code).to.equal(2);
        expect(unknown.stderr).to.match(/HTTP 400/);
      });

      it('retries with backoff while the server is unreachable, then exits 3', async () => {
        const port = await freePort();
        const started = Date.now();
        const result = await runScript(
          variant.shell,
          'homeport-phase',
          ['installation'],
          await env(mac(4), { HOMEPORT_URL: `http://127.0.0.1:${port}`, HOMEPORT_RETRIES: '3' }),
        );
        expect(result.code).to.equal(3);
        expect(result.stderr)
          .to.match(/retry 1\/2 in 0\.2s/)
          .and.match(/retry 2\/2 in 0\.4s/)
          .and.match(/after 3 attempts/);
        expect(Date.now() - started).to.be.greaterThan(550);
      });

      it('refuses to run without HOMEPORT_URL (exit 64)', async () => {
        const result = await runScript(variant.shell, 'homeport-phase', ['installation'], { ...variant.env() });
        expect(result.code).to.equal(64);
        expect(result.stderr).to.match(/HOMEPORT_URL is not set/);
      });
    });
  }

  it('succeeds once a server that was down comes up during the retries', async () => {
    const m = MAC;
    const port = await freePort();
    const pending = runScript(['/bin/sh'], 'homeport-register', [], {
      HOMEPORT_URL: `http://127.0.0.1:${port}`,
      HOMEPORT_MAC: m,
      HOMEPORT_RETRY_DELAY: '0.5',
      HOMEPORT_RETRIES: '8',
    });
    await new Promise((r) => setTimeout(r, 800));
    const late = await startTestHomeport({
      env: { HOMEPORT_HTTP__PORT: String(port), HOMEPORT_AUTH__OPENPHONEHOME: 'true' },
    });
    try {
      const result = await pending;
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stderr).to.match(/retry 1\//);
      expect((await late.request('GET', `/api/status/nodes/${m}`)).status).to.equal(200);
    } finally {
      await late.stop();
    }
  });
});

describe('Proxmox post-install example (scripts/examples)', function () {
  this.timeout(60_000);
  it('reports post_install and registers the node post-install-complete', async () => {
    const hp = await startTestHomeport();
    try {
      const env = {
        HOMEPORT_URL: hp.baseUrl,
        HOMEPORT_MAC: MAC,
        HOMEPORT_TOKEN: await hp.tokenFor(MAC),
        HOMEPORT_HOSTNAME: 'pve9',
      };
      const result = await runScript(['/bin/sh'], 'examples/proxmox-post-install.sh', [], env);
      expect(result.code, result.stderr).to.equal(0);
      const node = await hp.request('GET', `/api/status/nodes/${MAC}`);
      expect(node.body).to.include({
        hostname: 'pve9',
        type: 'proxmox',
        status: 'post-install-complete',
        deployment_status: 'deployed',
        netboot_enabled: false,
      });
      const phases = (await hp.request('GET', `/api/status/history/${MAC}`)).body.entries.map(
        (e: { phase: string; status: string }) => `${e.phase}:${e.status}`,
      );
      expect(phases).to.deep.equal([
        'registered:completed',
        'post_install:in_progress',
        'post_install:completed',
        'registered:completed',
        'deployed:completed',
      ]);
    } finally {
      await hp.stop();
    }
  });
});
