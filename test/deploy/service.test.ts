/**
 * The systemd unit and `make install` (deploy/install.sh). systemd does not run
 * here, so the unit is checked with `systemd-analyze verify` and its privileges
 * are reproduced with setpriv: the unit's ExecStart, from a tree staged with
 * DESTDIR, as an unprivileged user with exactly the unit's capabilities, inside
 * a network namespace this test creates.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import { runProcess, startServerProcess } from '../helpers/cli.js';
import { createLab, run, sleep, stopChild, type Lab } from '../helpers/netns.js';
import { freeUdpPort } from '../tftp/helpers.js';

const REPO = path.resolve(import.meta.dirname, '../..');
const UNIT = path.join(REPO, 'deploy/homeport.service');
const PREFIX = '/opt/homeport';
const NOBODY = 65534;
/** CAP_NET_BIND_SERVICE is capability 10. */
const NET_BIND_SERVICE_MASK = (1n << 10n).toString(16).padStart(16, '0');

/** The [Service] settings of the unit, key -> values (a key may repeat). */
function serviceSettings(text: string): Map<string, string[]> {
  const settings = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      section = line;
      continue;
    }
    if (section !== '[Service]') continue;
    const [key, ...value] = line.split('=');
    settings.set(key!, [...(settings.get(key!) ?? []), value.join('=')]);
  }
  return settings;
}

function one(settings: Map<string, string[]>, key: string): string {
  const values = settings.get(key) ?? [];
  expect(values, key).to.have.length(1);
  return values[0]!;
}

/** setpriv arguments that give the process what the unit gives it: capabilities (or none), no new privileges, user nobody. */
function setprivArgs(capabilities: string[]): string[] {
  const caps = ['-all', ...capabilities.map((c) => `+${c.replace(/^CAP_/, '').toLowerCase()}`)].join(',');
  return [
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    '--clear-groups',
    `--inh-caps=${caps}`,
    `--ambient-caps=${caps}`,
    `--bounding-set=${caps}`,
    '--no-new-privs',
  ];
}

function procStatus(pid: number): Record<string, string> {
  const text = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
}

describe('systemd unit and make install', function () {
  // install.sh compiles the code with tsc (tens of seconds on this 2-core machine).
  this.timeout(180_000);
  let dir: string;
  let destdir: string;
  const settings = serviceSettings(fs.readFileSync(UNIT, 'utf8'));

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-deploy-'));
    fs.chmodSync(dir, 0o755); // the unprivileged user walks into the staged tree
    destdir = path.join(dir, 'root');
    const installed = await runProcess(
      'sh',
      [path.join(REPO, 'deploy/install.sh')],
      { ...process.env, DESTDIR: destdir },
      150_000,
    );
    expect(installed.status, installed.stderr).to.equal(0);
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('runs as its own user with only CAP_NET_BIND_SERVICE, a read-only system, a private /tmp and a state directory', () => {
    expect(one(settings, 'User')).to.equal('homeport');
    expect(one(settings, 'AmbientCapabilities')).to.equal('CAP_NET_BIND_SERVICE');
    expect(one(settings, 'CapabilityBoundingSet')).to.equal('CAP_NET_BIND_SERVICE');
    expect(one(settings, 'NoNewPrivileges')).to.equal('yes');
    expect(one(settings, 'PrivateTmp')).to.equal('yes');
    expect(one(settings, 'ProtectSystem')).to.equal('strict');
    expect(one(settings, 'ProtectHome')).to.equal('yes');
    expect(one(settings, 'StateDirectory')).to.equal('homeport');
    expect(one(settings, 'Restart')).to.equal('on-failure');
    expect(one(settings, 'ExecStart')).to.equal(`${PREFIX}/bin/homeport serve --config /etc/homeport/homeport.yaml`);
  });

  it('passes systemd-analyze verify, with a low exposure score', async () => {
    // The only change: the unit points at the staged tree instead of /opt/homeport (verify checks ExecStart exists).
    const unit = path.join(dir, 'homeport.service');
    fs.writeFileSync(
      unit,
      fs
        .readFileSync(path.join(destdir, 'etc/systemd/system/homeport.service'), 'utf8')
        .replaceAll(PREFIX, path.join(destdir, PREFIX)),
    );
    const verify = await run('systemd-analyze', ['verify', unit], 30_000);
    expect(verify.code, verify.stderr).to.equal(0);
    expect(verify.stderr.trim(), 'verify warns about nothing').to.equal('');
    const security = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', unit], 30_000);
    const score = /Overall exposure level for homeport\.service: ([\d.]+)/.exec(security.stdout);
    expect(score, security.stdout + security.stderr).to.not.equal(null);
    expect(Number(score![1]), 'exposure (1.9 when written)').to.be.at.most(2.5);
  });

  it('make install stages the code, the command, the example config, the state directory and the unit', async () => {
    expect(fs.readlinkSync(path.join(destdir, 'usr/local/bin/homeport'))).to.equal(`${PREFIX}/bin/homeport`);
    expect(fs.statSync(path.join(destdir, 'var/lib/homeport')).isDirectory()).to.equal(true);
    expect(fs.statSync(path.join(destdir, 'etc/homeport/homeport.yaml')).mode & 0o777).to.equal(0o640);
    expect(fs.readFileSync(path.join(destdir, 'etc/systemd/system/homeport.service'), 'utf8')).to.equal(
      fs.readFileSync(UNIT, 'utf8'),
    );
    const config = path.join(destdir, 'etc/homeport/homeport.yaml');
    const check = await runProcess(
      path.join(destdir, PREFIX, 'bin/homeport'),
      ['config', 'check', '--json', '--config', config],
      process.env,
    );
    expect(check.status, check.stderr).to.equal(0);
    const checked = JSON.parse(check.stdout) as { config: { dataDir: string; boot: { templatesDir: string } } };
    expect(checked.config.dataDir).to.equal('/var/lib/homeport');
    // Found from dist/server/boot/ through the tree's root, not a path relative to the sources.
    expect(checked.config.boot.templatesDir).to.equal(path.join(destdir, PREFIX, 'boot-templates'));
  });

  describe('the installed tree runs compiled JavaScript with plain node', () => {
    let app: string;
    before(() => {
      app = path.join(destdir, PREFIX);
      // Without tsx nothing could run TypeScript, so what answers below is the compiled code.
      // (tsx stays a dependency for a checkout's fallback; the installed tree never needs it.)
      fs.rmSync(path.join(app, 'node_modules/tsx'), { recursive: true, force: true });
    });

    it('holds dist/ with source maps and views, and no TypeScript sources or tsconfig', () => {
      expect(fs.existsSync(path.join(app, 'dist/server/cli/main.js'))).to.equal(true);
      expect(fs.existsSync(path.join(app, 'dist/server/cli/main.js.map'))).to.equal(true);
      expect(fs.existsSync(path.join(app, 'dist/db/migrations/001_initial.js'))).to.equal(true);
      expect(fs.existsSync(path.join(app, 'dist/server/monitoring/views/list.hbs'))).to.equal(true);
      for (const absent of ['server', 'db', 'tsconfig.json'])
        expect(fs.existsSync(path.join(app, absent)), absent).to.equal(false);
    });

    it('answers --version from dist/', async () => {
      const version = await runProcess(path.join(app, 'bin/homeport'), ['--version'], process.env);
      expect(version.status, version.stderr).to.equal(0);
      const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
      expect(version.stdout.trim()).to.equal(pkg.version);
    });

    it('serves /healthz, the status page and TFTP (worker threads) as node dist/server/cli/main.js, on loopback', async () => {
      const state = fs.mkdtempSync(path.join(dir, 'loopback-'));
      fs.mkdirSync(path.join(state, 'tftp'));
      fs.writeFileSync(path.join(state, 'tftp', 'hello.txt'), 'compiled\n');
      const tftpPort = await freeUdpPort();
      const server = await startServerProcess(
        {
          HOMEPORT_CONFIG: '',
          HOMEPORT_DATADIR: state,
          HOMEPORT_TFTP__ENABLED: 'true',
          HOMEPORT_TFTP__HOST: '127.0.0.1',
          HOMEPORT_TFTP__PORT: String(tftpPort),
        },
        [],
        path.join(app, 'bin/homeport'),
      );
      try {
        // The wrapper execs node: the server's PID runs node on dist/, with no tsx loader.
        const argv = fs.readFileSync(`/proc/${server.child.pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
        expect(argv.slice(1)).to.deep.equal([
          '--enable-source-maps',
          path.join(app, 'dist/server/cli/main.js'),
          'serve',
        ]);
        expect(argv.join(' ')).to.not.include('tsx');
        expect(await (await fetch(`${server.baseUrl}/healthz`)).json()).to.deep.equal({ status: 'ok', database: 'ok' });
        const page = await fetch(`${server.baseUrl}/monitoring`);
        expect(page.status).to.equal(200);
        expect(await page.text()).to.include('<html');
        const tftp = await runProcess(
          'curl',
          ['-sS', '--max-time', '10', `tftp://127.0.0.1:${tftpPort}/hello.txt`],
          process.env,
        );
        expect(tftp.stdout, tftp.stderr).to.equal('compiled\n');
      } finally {
        await server.stop();
      }
    });
  });

  describe('the unit ExecStart under the unit privileges, in a network namespace', () => {
    const subnet = '10.77.52';
    const serverIp = `${subnet}.1`;
    let lab: Lab;
    let config: string;
    let command: string[];

    before(async () => {
      lab = await createLab({ subnet });
      await lab.addHost('client');
      const dataDir = path.join(dir, 'state');
      fs.mkdirSync(dataDir);
      fs.chownSync(dataDir, NOBODY, NOBODY);
      config = path.join(dir, 'homeport.yaml');
      // DHCP (67, 4011), TFTP (69) and HTTP on 80: all below 1024.
      fs.writeFileSync(
        config,
        YAML.stringify({
          dataDir,
          http: { port: 80 },
          dhcp: { mode: 'proxy', interface: 'br0', serverIp },
          tftp: { enabled: true },
        }),
        { mode: 0o644 },
      );
      command = one(settings, 'ExecStart')
        .replaceAll(PREFIX, path.join(destdir, PREFIX))
        .replace('/etc/homeport/homeport.yaml', config)
        .split(' ');
    });

    after(async () => {
      await lab?.destroy();
    });

    it('binds 67, 4011, 69 and 80 and serves /healthz as nobody with exactly CAP_NET_BIND_SERVICE', async () => {
      const capabilities = one(settings, 'AmbientCapabilities').split(/\s+/);
      const child = lab.spawn(lab.ns, 'setpriv', [...setprivArgs(capabilities), ...command]);
      let logs = '';
      child.stderr?.on('data', (chunk: Buffer) => (logs += chunk.toString()));
      child.stdout?.resume();
      try {
        const deadline = Date.now() + 40_000;
        while (!(logs.includes('"dhcp listening"') && logs.includes('"tftp listening"'))) {
          if (Date.now() > deadline || child.exitCode !== null)
            throw new Error(`homeport did not start (exit ${child.exitCode}):\n${logs}`);
          await sleep(200);
        }
        const health = await lab.exec(lab.ns, 'curl', ['-sf', '--max-time', '5', `http://${serverIp}:80/healthz`]);
        expect(health.code, health.stderr).to.equal(0);
        expect(JSON.parse(health.stdout)).to.deep.equal({ status: 'ok', database: 'ok' });
        const sockets = await lab.exec(lab.ns, 'ss', ['-Hlnup']);
        for (const port of [67, 4011, 69])
          expect(sockets.stdout, `udp ${port}`).to.match(new RegExp(`:${port}\\s.*pid=${child.pid}\\b`));
        // ip netns exec, setpriv and the sh wrapper each exec the next: the child's PID is node's.
        const status = procStatus(child.pid!);
        expect(status.Uid!.split(/\s+/)).to.deep.equal(Array(4).fill(String(NOBODY)));
        expect(status.CapEff).to.equal(NET_BIND_SERVICE_MASK);
        expect(status.CapPrm).to.equal(NET_BIND_SERVICE_MASK);
        expect(status.CapAmb).to.equal(NET_BIND_SERVICE_MASK);
        expect(status.CapBnd).to.equal(NET_BIND_SERVICE_MASK);
        expect(status.NoNewPrivs).to.equal('1');
      } finally {
        await stopChild(child);
      }
    });

    it('fails to start without the capability', async () => {
      const child = lab.spawn(lab.ns, 'setpriv', [...setprivArgs([]), ...command]);
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.stdout?.resume();
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => resolve(null), 40_000);
        child.once('exit', (exitCode) => {
          clearTimeout(timer);
          resolve(exitCode);
        });
      });
      await stopChild(child);
      expect(code, stderr).to.not.equal(0);
      expect(code, 'exited on its own').to.not.equal(null);
      expect(stderr).to.match(/EACCES/);
    });
  });
});
