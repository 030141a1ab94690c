import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeToken } from '../../server/auth/tokens';
import { HOMEPORT_BIN, runHomeport, runProcess, startProcess, startServerProcess, waitForOutput, type ServerProcess } from '../helpers/cli';
import { installNodeStubs, type NodeStubs } from '../helpers/node-stubs';
import { runClient, simulateInstall, type SimulatedNode } from '../helpers/simulated-node';
import { sshEnv } from '../helpers/ssh-fixture';
import { startTestSshd, type TestSshd } from '../helpers/sshd';

const NODES: SimulatedNode[] = [
  { mac: '52:54:00:cf:00:01', hostname: 'pve1', ip: '127.0.0.2', cluster: 'lab' },
  { mac: '52:54:00:cf:00:02', hostname: 'pve2', ip: '127.0.0.3', cluster: 'lab' },
  { mac: '52:54:00:cf:00:03', hostname: 'pve3', ip: '127.0.0.4', cluster: 'lab' },
];

/** Runs the CLI as a child (stdout is a pipe, so not a TTY) without blocking the test's event loop. */
async function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runProcess(HOMEPORT_BIN, args, { ...process.env, ...env }, timeoutMs);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('homeport reprovision --wait against a running server', function () {
  this.timeout(180_000);
  let sshd: TestSshd;
  let stubs: NodeStubs;
  let dir: string;
  let server: ServerProcess;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    sshd = await startTestSshd();
    stubs = installNodeStubs(sshd.binDir);
  });
  after(async () => sshd.dispose());
  beforeEach(async () => {
    stubs.clearCalls();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-cli-rp-'));
    const formScript = path.join(dir, 'form.sh');
    fs.writeFileSync(formScript, '#!/bin/sh\necho "formed $CLUSTER"\n', { mode: 0o755 });
    env = {
      HOMEPORT_CONFIG: '',
      HOMEPORT_DATADIR: path.join(dir, 'data'),
      ...sshEnv(sshd),
      HOMEPORT_WATCHER__SCHEDULE: '* * * * * *', // every second, so the test does not wait 30 s
      HOMEPORT_WATCHER__SSHTIMEOUTMS: '20000',
      HOMEPORT_CLUSTERS: JSON.stringify({ lab: { driver: 'script', script: formScript } }),
    };
    server = await startServerProcess(env);
    env.HOMEPORT_HTTP__PORT = String(server.port); // the CLI finds the server through the same config
    const secret = fs.readFileSync(path.join(dir, 'data', 'secret'), 'utf8').trim();
    for (const node of NODES) await runClient(server.baseUrl, nodeToken(secret, node.mac), node, 'homeport-register', []);
  });
  afterEach(async () => {
    expect(await server.stop()).to.equal(0);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const tokenOf = (mac: string) => nodeToken(fs.readFileSync(path.join(dir, 'data', 'secret'), 'utf8').trim(), mac);

  it('shows the nodes\' progress in plain lines while they report through the scripts, until clustered; exit 0', async () => {
    const cli = startProcess(HOMEPORT_BIN, ['reprovision', '--all', '--wait', '--poll', '0.3'], { ...process.env, ...env }, 90_000);
    // The nodes "reboot" (the stub records it), then install and phone home, once the CLI has shown where they start from.
    for (let i = 0; stubs.calls().length < 3; i++) {
      if (i > 600) throw new Error(`no reboots: ${stubs.calls().join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitForOutput(cli, /pve1: pending \(0%\), reprovision in_progress/);
    await Promise.all(NODES.map((node) => simulateInstall(server.baseUrl, tokenOf(node.mac), node)));
    const result = await cli.done;
    expect(result.status, result.stderr + result.stdout).to.equal(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).to.deep.equal(['pve1: reprovisioning (reboot over ssh)', 'pve2: reprovisioning (reboot over ssh)', 'pve3: reprovisioning (reboot over ssh)']);
    expect(lines.some((l) => /^\[\d\d:\d\d\] pve1: pending \(0%\), reprovision in_progress, \d\d:\d\d since restart$/.test(l)), 'first state').to.equal(true);
    expect(lines.some((l) => /^\[\d\d:\d\d\] pve2: .*reprovision clustered/.test(l))).to.equal(true);
    expect(lines).to.include('cluster lab: formed');
    expect(lines.at(-1)).to.equal('done: 3 node(s) reprovisioned, cluster lab formed');
    expect(result.stdout, 'no cursor movement when not a TTY').not.to.include('\x1b[');
    expect(stubs.calls().sort()).to.deep.equal(['127.0.0.2 reboot', '127.0.0.3 reboot', '127.0.0.4 reboot']);

    const ls = runHomeport(['clusters', 'ls'], env);
    expect(ls.status, ls.stderr).to.equal(0);
    expect(ls.stdout.split('\n')[1]).to.match(/^lab\tscript\tformed\t3\tclustered=3\t/);
  });

  it('exits 4 when --timeout passes before the nodes are done, leaving them reprovisioning', async () => {
    const result = await runCli(['reprovision', '--nodes', 'pve1,pve3', '--wait', '--timeout', '0.05', '--poll', '0.3'], env);
    expect(result.code, result.stderr).to.equal(4);
    expect(result.stdout.trim().split('\n').at(-1)).to.equal('timeout: not done after 00:03 (mm:ss); the reprovision goes on on the server');
    expect(result.stderr).to.equal('homeport: timed out waiting\n');
    const ls = runHomeport(['nodes', 'ls'], env);
    expect(ls.stdout).to.match(/pve1\t127\.0\.0\.2\tlab\tpending\tin_progress/);
  });

  it('stops waiting on Ctrl-C with exit 130 and undoes nothing', async () => {
    const cli = startProcess(HOMEPORT_BIN, ['reprovision', '--nodes', 'pve1', '--wait', '--poll', '0.3'], { ...process.env, ...env }, 90_000);
    await waitForOutput(cli, /pve1: pending/);
    cli.child.kill('SIGINT');
    const { status, stderr } = await cli.done;
    expect(status, stderr).to.equal(130);
    expect(stderr).to.equal('homeport: stopped waiting; the reprovision goes on (homeport clusters ls)\n');
    expect(runHomeport(['nodes', 'ls'], env).stdout).to.match(/pve1\t127\.0\.0\.2\tlab\tpending\tin_progress/);
  });

  it('exits 5 when a node fails, 3 for an unknown node, 2 for bad usage', async () => {
    const failing = runCli(['reprovision', '--nodes', 'pve2', '--wait', '--poll', '0.3'], env);
    for (let i = 0; !stubs.calls().includes('127.0.0.3 reboot'); i++) {
      if (i > 600) throw new Error('no reboot');
      await new Promise((r) => setTimeout(r, 50));
    }
    await runClient(server.baseUrl, tokenOf(NODES[1]!.mac), NODES[1]!, 'homeport-phase', ['installation', 'failed', 'disk not found']);
    const failed = await failing;
    expect(failed.code, failed.stderr).to.equal(5);
    expect(failed.stdout.trim().split('\n').at(-1)).to.equal('failed: pve2 error');
    const unknown = runHomeport(['reprovision', '--nodes', 'ghost'], env);
    expect(unknown.status).to.equal(3);
    expect(unknown.stderr).to.equal('homeport: POST /api/reprovision: HTTP 404: no node ghost; nothing was changed\n');
    expect(runHomeport(['reprovision'], env).status).to.equal(2);
    expect(runHomeport(['reprovision', '--help'], env).status).to.equal(0);
  });
});
