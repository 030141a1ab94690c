import { expect } from 'chai';
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLab, sleep, stopChild, type Lab } from '../helpers/netns.js';

/**
 * End to end: real QEMU machines network-boot from homeport inside a network
 * namespace. homeport runs there with full DHCP, TFTP and HTTP on the bridge
 * address; a BIOS machine uses QEMU's iPXE ROM, a UEFI machine uses OVMF's own
 * PXE (NIC ROM disabled), fetches snponly.efi over TFTP, then chains to HTTP.
 * Both boot Debian's kernel and a busybox initramfs that phones home with the
 * project's scripts/ clients, then power off.
 */
const REPO = path.resolve('.');
const HTTP_PORT = 8080;
const PHASES = [
  'foundation_start',
  'network_config',
  'storage_discovery',
  'image_download',
  'installation',
  'post_install',
  'deployed',
];
const VM_TIMEOUT_MS = Number(process.env.E2E_VM_TIMEOUT_MS ?? 300_000);

interface Machine {
  name: string;
  mac: string;
  firmware: 'bios' | 'uefi';
  tap?: string;
  serialLog: string;
}

const KVM_USABLE = fs.existsSync('/dev/kvm') && /\b(vmx|svm)\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));

function qemuArgs(machine: Machine, workDir: string): string[] {
  const accel = KVM_USABLE ? 'kvm' : 'tcg'; // KVM without vmx/svm hangs silently (DESIGN.md)
  const nic = `virtio-net-pci,netdev=n0,mac=${machine.mac},bootindex=1${machine.firmware === 'uefi' ? ',romfile=' : ''}`;
  const args = [
    '-machine',
    `q35,accel=${accel}`,
    '-m',
    '512',
    '-smp',
    '1',
    '-display',
    'none',
    '-monitor',
    'none',
    '-no-reboot',
  ];
  args.push(
    '-serial',
    `file:${machine.serialLog}`,
    '-netdev',
    `tap,id=n0,ifname=${machine.tap},script=no,downscript=no`,
    '-device',
    nic,
  );
  if (machine.firmware === 'uefi') {
    const vars = path.join(workDir, `${machine.name}-vars.fd`);
    fs.copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd', vars);
    args.push(
      '-drive',
      'if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd',
      '-drive',
      `if=pflash,format=raw,file=${vars}`,
    );
  } else {
    args.push('-boot', 'n');
  }
  return args;
}

interface Scenario {
  mode: 'full' | 'proxy';
  subnet: string;
  macPrefix: string;
  firmwares: Machine['firmware'][];
  /** Reprovision the machines first, so the watcher forms their cluster (script driver) once all are done. */
  formsCluster: boolean;
}

for (const scenario of [
  {
    mode: 'full',
    subnet: '10.77.9',
    macPrefix: '52:54:00:e2:e0',
    firmwares: ['bios', 'uefi', 'bios'],
    formsCluster: true,
  },
  { mode: 'proxy', subnet: '10.77.8', macPrefix: '52:54:00:e2:e1', firmwares: ['bios', 'uefi'], formsCluster: false },
] satisfies Scenario[]) {
  describeNetboot(scenario);
}

function describeNetboot({ mode, subnet: SUBNET, macPrefix, firmwares, formsCluster }: Scenario): void {
  const SERVER_IP = `${SUBNET}.1`;
  describe(`end to end: QEMU machines network-boot from homeport (${mode} DHCP${mode === 'proxy' ? ' beside dnsmasq' : ''})`, function () {
    this.timeout(VM_TIMEOUT_MS + 120_000);
    let lab: Lab;
    let workDir: string;
    let homeport: ChildProcess;
    let homeportLog = '';
    let adminToken = '';
    let formLog = '';
    const machines: Machine[] = [];

    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API answers; the test asserts the fields it reads
    const api = async (method: string, urlPath: string, body?: unknown): Promise<any> => {
      const args = [
        '-sS',
        '-X',
        method,
        '-H',
        `authorization: Bearer ${adminToken}`,
        `http://${SERVER_IP}:${HTTP_PORT}${urlPath}`,
      ];
      if (body !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(body));
      const result = await lab.exec(lab.ns, 'curl', args, { timeoutMs: 15_000 });
      if (result.code !== 0) throw new Error(`curl ${urlPath}: ${result.stderr}`);
      return result.stdout ? JSON.parse(result.stdout) : null;
    };

    const dumpLogs = () => {
      for (const m of machines) {
        const serial = fs.existsSync(m.serialLog) ? fs.readFileSync(m.serialLog, 'utf8') : '(no serial log)';
        console.error(`\n===== serial console of ${m.name} (${m.firmware}, ${m.mac}) =====\n${serial.slice(-6000)}`);
      }
      console.error(`\n===== homeport log =====\n${homeportLog.slice(-15000)}`);
    };

    before(async function () {
      this.timeout(240_000);
      workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-e2e-'));
      const dataDir = path.join(workDir, 'data');
      execFileSync('sh', [path.join(REPO, 'scripts/lab/build-machine-image.sh'), path.join(dataDir, 'assets/e2e')], {
        stdio: 'inherit',
        timeout: 180_000,
      });
      const templates = path.join(workDir, 'templates');
      fs.mkdirSync(path.join(templates, 'profiles'), { recursive: true });
      fs.mkdirSync(path.join(templates, 'e2e'));
      fs.writeFileSync(path.join(templates, 'e2e/phases.txt'), PHASES.join('\n') + '\n');
      fs.writeFileSync(
        path.join(templates, 'profiles/e2e.yaml'),
        [
          'description: e2e test machine (busybox initramfs that phones home)',
          'kernel: e2e/vmlinuz',
          'initrds: [e2e/initramfs.gz]',
          'args: >-',
          '  console=ttyS0 quiet panic=5',
          '  homeport.url={{server.baseUrl}} homeport.mac={{node.mac}} homeport.token={{token}}',
          '  homeport.hostname={{node.hostname}} homeport.config={{configs.phases}}',
          'configs:',
          '  phases: e2e/phases.txt',
          '',
        ].join('\n'),
      );
      formLog = path.join(workDir, 'formed.log');
      const formScript = path.join(workDir, 'form-cluster.sh');
      // The cluster driver here is a recording script: it appends one line per formation.
      fs.writeFileSync(formScript, `#!/bin/sh\necho "$CLUSTER $NODES" >> ${formLog}\n`, { mode: 0o755 });
      const configFile = path.join(workDir, 'homeport.yaml');
      fs.writeFileSync(
        configFile,
        JSON.stringify({
          dataDir,
          log: { level: 'debug' },
          http: { host: '0.0.0.0', port: HTTP_PORT },
          dhcp:
            mode === 'full'
              ? {
                  mode,
                  interface: 'br0',
                  serverIp: SERVER_IP,
                  pool: {
                    start: `${SUBNET}.100`,
                    end: `${SUBNET}.150`,
                    subnetMask: '255.255.255.0',
                    router: SERVER_IP,
                    leaseSeconds: 600,
                  },
                }
              : { mode, interface: 'br0', serverIp: SERVER_IP },
          tftp: { enabled: true },
          boot: { templatesDir: templates, unknown: 'deny' },
          ...(formsCluster && {
            // The test machines run no sshd: their `deployed` report is the readiness signal.
            reprovision: { method: 'none' },
            watcher: { schedule: '*/2 * * * * *' },
            clusters: {
              e2e: { driver: 'script', script: formScript, readinessSsh: false, expectedNodes: firmwares.length },
            },
          }),
        }),
      );

      lab = await createLab({ subnet: SUBNET });
      firmwares.forEach((firmware, i) => {
        const name = `${mode}-${firmware}${i + 1}`;
        machines.push({ name, mac: `${macPrefix}:0${i + 1}`, firmware, serialLog: path.join(workDir, `${name}.log`) });
      });
      for (const m of machines) m.tap = await lab.addTap();
      if (mode === 'proxy') {
        // The site's own DHCP server hands out addresses; homeport only adds boot information.
        const dhcpHost = await lab.addHost('dnsmasq', { address: `${SUBNET}.2` });
        lab.spawn(dhcpHost.ns, 'dnsmasq', [
          '--no-daemon',
          '--conf-file=/dev/null',
          '--port=0',
          '--bind-interfaces',
          '--interface=eth0',
          `--dhcp-range=${SUBNET}.100,${SUBNET}.150,255.255.255.0,10m`,
          `--dhcp-leasefile=${path.join(workDir, 'dnsmasq.leases')}`,
          '--pid-file=',
        ]);
      }

      homeport = lab.spawn(
        lab.ns,
        process.execPath,
        ['--import', 'tsx', path.join(REPO, 'server/cli/main.ts'), 'serve', '-c', configFile],
        { cwd: REPO },
      );
      homeport.stdout?.on('data', (c: Buffer) => (homeportLog += c.toString()));
      homeport.stderr?.on('data', (c: Buffer) => (homeportLog += c.toString()));
      for (let i = 0; ; i++) {
        const health = await lab.exec(lab.ns, 'curl', ['-sf', `http://${SERVER_IP}:${HTTP_PORT}/healthz`], {
          timeoutMs: 5000,
        });
        if (health.code === 0) break;
        if (i > 120 || homeport.exitCode !== null) throw new Error(`homeport did not start:\n${homeportLog}`);
        await sleep(250);
      }
      adminToken = fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim();
      for (const m of machines) {
        await api('POST', '/api/nodes', { mac: m.mac, hostname: `e2e-${m.name}`, profile: 'e2e', cluster: 'e2e' });
      }
      if (formsCluster) {
        const started = await api('POST', '/api/reprovision', { nodes: machines.map((m) => m.mac) });
        expect(started.nodes, 'reprovision started').to.have.length(machines.length);
      }
    });

    after(async function () {
      this.timeout(60_000);
      if (this.currentTest?.state === 'failed') dumpLogs();
      if (homeport) await stopChild(homeport, 5000);
      if (lab) await lab.destroy();
      if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
    });

    afterEach(function () {
      if (this.currentTest?.state === 'failed') dumpLogs();
    });

    /** Boots a machine and resolves when it powers itself off; kills it at the time limit. */
    const boot = (machine: Machine, until?: () => boolean): Promise<'poweroff' | 'matched'> =>
      new Promise((resolve, reject) => {
        fs.rmSync(machine.serialLog, { force: true });
        const vm = lab.spawn(lab.ns, 'qemu-system-x86_64', qemuArgs(machine, workDir), {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        let stderr = '';
        vm.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
        const started = Date.now();
        const poll = setInterval(() => {
          if (until?.()) finish(() => resolve('matched'));
          else if (Date.now() - started > VM_TIMEOUT_MS)
            finish(() => reject(new Error(`${machine.name} did not finish within ${VM_TIMEOUT_MS / 1000} s`)));
        }, 1000);
        const finish = (settle: () => void) => {
          clearInterval(poll);
          if (vm.exitCode === null) vm.kill('SIGKILL');
          settle();
        };
        vm.once('exit', (code) =>
          finish(() =>
            code === 0 ? resolve('poweroff') : reject(new Error(`${machine.name}: qemu exited ${code}: ${stderr}`)),
          ),
        );
      });

    it(`boots ${firmwares.join(' + ')} machines (BIOS: iPXE ROM; UEFI: OVMF PXE, snponly.efi over TFTP); all phone home and are deployed`, async () => {
      const results = await Promise.all(machines.map((m) => boot(m)));
      expect(results).to.deep.equal(machines.map(() => 'poweroff'));
      for (const m of machines) {
        const serial = fs.readFileSync(m.serialLog, 'utf8');
        expect(serial, `${m.name} serial`).to.contain('homeport-e2e: reported deployed');
        const history = await api('GET', `/api/status/history/${m.mac}?limit=1000`);
        const phases = (history.entries as { phase: string; applied: boolean }[]).map((e) => e.phase);
        const firstOf = (phase: string) => phases.indexOf(phase);
        expect(firstOf('dhcp_discover'), `${m.name}: ${phases.join(' ')}`).to.be.at.least(0);
        expect(firstOf('ipxe_boot')).to.be.greaterThan(firstOf('dhcp_discover'));
        expect(firstOf('config_download')).to.be.greaterThan(firstOf('ipxe_boot'));
        const reported = phases.slice(firstOf('config_download') + 1).filter((p) => PHASES.includes(p));
        expect(reported, `${m.name} reported phases in order`).to.deep.equal(PHASES);
        const node = await api('GET', `/api/status/nodes/${m.mac}`);
        expect(node).to.include({
          deployment_status: 'deployed',
          phase_status: 'completed',
          netboot_enabled: false,
          hostname: `e2e-${m.name}`,
        });
        // The address homeport connects to is the one its round saw the machine use (its DHCP address); what it reported agrees.
        expect(node.address, `${m.name}'s round is bound to its DHCP address`).to.match(
          new RegExp(`^${SUBNET.replace(/\./g, '\\.')}\\.1[0-5]\\d$`),
        );
        expect(node.install_round.bound_ip).to.equal(node.address);
        expect(node.reported_ip, `${m.name} reported the same address`).to.equal(node.address);
        if (mode === 'proxy') {
          const leases = fs.readFileSync(path.join(workDir, 'dnsmasq.leases'), 'utf8');
          expect(leases, `${m.name}'s address came from dnsmasq`).to.contain(node.address);
        }
      }
      expect(homeportLog, 'the UEFI firmware fetched its iPXE over TFTP').to.match(/snponly\.efi/);
    });

    if (formsCluster) {
      it('forms the cluster exactly once, with every machine, after the last one reported', async () => {
        let cluster: { state?: string } = {};
        for (let i = 0; i < 60 && cluster.state !== 'formed'; i++) {
          await sleep(1000);
          cluster = await api('GET', '/api/clusters/e2e');
        }
        expect(cluster.state, JSON.stringify(cluster)).to.equal('formed');
        await sleep(5000); // two more watcher ticks: nothing may form it again
        const lines = fs.readFileSync(formLog, 'utf8').trim().split('\n');
        expect(lines, 'one formation').to.have.length(1);
        for (const m of machines) expect(lines[0], `${m.name} in the formation`).to.contain(`e2e-${m.name}`);
        for (const m of machines)
          expect((await api('GET', `/api/status/nodes/${m.mac}`)).reprovision_status).to.equal('clustered');
      });
    }

    if (mode === 'full') {
      it('boots a deployed machine from its local disk the second time (boot-once)', async () => {
        const bios = machines[0]!;
        const served = new RegExp(`"path":"/boot/${bios.mac.replace(/:/g, '-')}\\.ipxe","outcome":"local"`);
        expect(homeportLog).not.to.match(served);
        // iPXE prints to the BIOS machine's VGA console, not its serial port: homeport's log says which script it served.
        const outcome = await boot(bios, () => served.test(homeportLog));
        expect(outcome).to.equal('matched');
      });
    }
  });
}
