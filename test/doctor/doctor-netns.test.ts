/**
 * `homeport doctor` as a user runs it, inside network namespaces this test
 * creates (DESIGN.md, safety): doctor runs in the lab's switch namespace,
 * where br0 is the boot interface; dnsmasq, when a second DHCP server is
 * wanted, runs in a host namespace wired to the bridge.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import YAML from 'yaml';
import type { CheckResult } from '../../server/doctor/checks.js';
import { HOMEPORT_BIN, runHomeport } from '../helpers/cli.js';
import { createLab, sleep, stopChild, type Lab } from '../helpers/netns.js';
import type { ChildProcess } from 'node:child_process';

const subnet = '10.77.51';
const serverIp = `${subnet}.1`;
const dnsmasqIp = `${subnet}.2`;

interface DoctorRun {
  code: number | null;
  checks: CheckResult[];
  stderr: string;
}

function check(run: DoctorRun, name: string): CheckResult {
  const found = run.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name} in ${run.checks.map((c) => c.name).join(', ')}`);
  return found;
}

describe('homeport doctor in a network namespace', function () {
  this.timeout(120_000);
  let lab: Lab;
  let dir: string;
  let fullConfig: string;

  /** A config file: full DHCP on br0, TFTP on, one profile whose kernel and initrd exist. */
  function writeConfig(name: string, overrides: Record<string, unknown> = {}): string {
    const config = {
      dataDir: path.join(dir, 'data'),
      http: { host: '0.0.0.0', port: 8080 },
      dhcp: {
        mode: 'full',
        interface: 'br0',
        serverIp,
        pool: { start: `${subnet}.100`, end: `${subnet}.150`, subnetMask: '255.255.255.0' },
      },
      tftp: { enabled: true },
      boot: { templatesDir: path.join(dir, 'templates'), defaultProfile: 'tiny' },
      ...overrides,
    };
    const file = path.join(dir, name);
    fs.writeFileSync(file, YAML.stringify(config));
    return file;
  }

  async function doctor(configFile: string): Promise<DoctorRun> {
    const result = await lab.exec(lab.ns, HOMEPORT_BIN, ['doctor', '--json', '--config', configFile], {
      timeoutMs: 60_000,
    });
    return { code: result.code, checks: JSON.parse(result.stdout) as CheckResult[], stderr: result.stderr };
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hp-doctor-'));
    fs.mkdirSync(path.join(dir, 'templates/profiles'), { recursive: true });
    fs.writeFileSync(
      path.join(dir, 'templates/profiles/tiny.yaml'),
      YAML.stringify({
        kernel: 'tiny/vmlinuz',
        initrds: ['tiny/initrd.gz'],
        args: 'console=ttyS0 homeport.mac={{node.mac}} homeport.url={{server.baseUrl}}',
      }),
    );
    fs.mkdirSync(path.join(dir, 'data/assets/tiny'), { recursive: true });
    for (const file of ['vmlinuz', 'initrd.gz'])
      fs.writeFileSync(path.join(dir, 'data/assets/tiny', file), 'not really a kernel');
    fullConfig = writeConfig('full.yaml');
    const migrated = runHomeport(['migrate', '--config', fullConfig]);
    expect(migrated.status, migrated.stderr).to.equal(0);
    lab = await createLab({ subnet });
    await lab.addHost('client'); // a port on br0, so the bridge has carrier and lists its address
  });

  after(async () => {
    await lab?.destroy();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes when nothing else answers DHCP and every port is free', async () => {
    const run = await doctor(fullConfig);
    const failed = run.checks.filter((c) => c.status === 'fail');
    expect(failed, JSON.stringify(failed)).to.deep.equal([]);
    expect(run.code, run.stderr).to.equal(0);
    expect(check(run, 'config').status).to.equal('ok');
    expect(check(run, 'database')).to.deep.include({ status: 'ok' });
    expect(check(run, 'interface')).to.deep.include({ status: 'ok', detail: `br0 has ${serverIp}` });
    for (const port of ['udp/67', 'udp/4011', 'udp/69', 'tcp/8080'])
      expect(check(run, `port ${port}`).detail, port).to.match(/: free$/);
    expect(check(run, 'ipxe BIOS (arch 0)').status).to.equal('ok');
    expect(check(run, 'profile tiny: kernel and initrds').status).to.equal('ok');
    expect(check(run, 'profile tiny: templates').status).to.equal('ok');
    expect(check(run, 'other dhcp servers')).to.deep.include({ status: 'ok' });
    expect(check(run, 'other dhcp servers').detail).to.match(/^none answered after one DISCOVER/);
  });

  describe('with dnsmasq answering as a second DHCP server', () => {
    let dnsmasq: ChildProcess;

    before(async () => {
      const host = await lab.addHost('dnsmasq', { address: dnsmasqIp });
      dnsmasq = lab.spawn(host.ns, 'dnsmasq', [
        '--no-daemon',
        '--conf-file=/dev/null',
        '--port=0',
        '--interface=eth0',
        '--bind-interfaces',
        `--dhcp-range=${subnet}.160,${subnet}.200,255.255.255.0,1h`,
        `--dhcp-leasefile=${dir}/dnsmasq.leases`,
        '--user=root',
        '--group=root',
      ]);
      dnsmasq.stderr?.resume();
      await sleep(500); // dnsmasq binds in a few ms; no readiness line to wait for
    });

    after(async () => {
      if (dnsmasq) await stopChild(dnsmasq);
    });

    it('full mode: reports dnsmasq, fails and suggests proxy mode', async () => {
      const run = await doctor(fullConfig);
      expect(run.code).to.equal(1);
      const other = check(run, 'other dhcp servers');
      expect(other.status).to.equal('fail');
      expect(other.detail).to.contain(`address offers from ${dnsmasqIp}`);
      expect(other.fix).to.contain('dhcp.mode: proxy');
      expect(run.checks.filter((c) => c.status === 'fail').map((c) => c.name)).to.deep.equal(['other dhcp servers']);
    });

    it('proxy mode: dnsmasq is the address server it needs', async () => {
      const run = await doctor(writeConfig('proxy.yaml', { dhcp: { mode: 'proxy', interface: 'br0', serverIp } }));
      expect(run.code, JSON.stringify(run.checks.filter((c) => c.status === 'fail'))).to.equal(0);
      expect(check(run, 'other dhcp servers')).to.deep.include({ status: 'ok' });
      expect(check(run, 'other dhcp servers').detail).to.match(
        new RegExp(`address offers from ${dnsmasqIp.replace(/\./g, '\\.')} .*fits dhcp\\.mode proxy`),
      );
    });
  });

  describe('ports', () => {
    it('held by a running homeport are ok, and its own DHCP offer is not another server', async () => {
      const serve = lab.spawn(lab.ns, HOMEPORT_BIN, ['serve', '--config', fullConfig]);
      let logs = '';
      serve.stderr?.on('data', (chunk: Buffer) => (logs += chunk.toString()));
      serve.stdout?.resume();
      try {
        const deadline = Date.now() + 30_000;
        while (!logs.includes('"dhcp listening"')) {
          if (Date.now() > deadline || serve.exitCode !== null) throw new Error(`homeport did not start:\n${logs}`);
          await sleep(200);
        }
        const run = await doctor(fullConfig);
        for (const port of ['udp/67', 'udp/4011', 'udp/69', 'tcp/8080']) {
          expect(check(run, `port ${port}`), port).to.deep.include({ status: 'ok' });
          expect(check(run, `port ${port}`).detail, port).to.match(/held by the running homeport \(node \(pid \d+\)\)/);
        }
        expect(check(run, 'other dhcp servers').detail).to.match(/^none answered/);
        expect(run.code).to.equal(0);
      } finally {
        await stopChild(serve);
      }
    });

    it('held by another program fail and name it', async () => {
      const tftpRoot = fs.mkdtempSync(path.join(dir, 'tftpd-'));
      const tftpd = lab.spawn(lab.ns, 'in.tftpd', [
        '--foreground',
        '--listen',
        '--address',
        '0.0.0.0:69',
        '--secure',
        tftpRoot,
      ]);
      try {
        await sleep(300);
        expect(tftpd.exitCode, 'in.tftpd is running').to.equal(null);
        const run = await doctor(fullConfig);
        const tftp = check(run, 'port udp/69');
        expect(tftp.status).to.equal('fail');
        expect(tftp.detail).to.match(/in use by in\.tftpd \(pid \d+\)/);
        expect(tftp.fix).to.match(/stop in\.tftpd/);
        expect(run.code).to.equal(1);
      } finally {
        await stopChild(tftpd);
      }
    });
  });
});
