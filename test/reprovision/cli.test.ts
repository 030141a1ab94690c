import { expect } from 'chai';
import {
  HOMEPORT_BIN,
  runHomeport,
  runProcess,
  startProcess,
  waitForOutput,
  type ServerProcess,
} from '../helpers/cli.js';
import { startCliLab, type CliLab } from '../helpers/cli-lab.js';
import { runClient, simulateInstall, type SimulatedNode } from '../helpers/simulated-node.js';
import { useStubbedNodes } from '../helpers/ssh-fixture.js';

const NODES: SimulatedNode[] = [
  { mac: '52:54:00:cf:00:01', hostname: 'pve1', ip: '127.0.0.2', cluster: 'lab' },
  { mac: '52:54:00:cf:00:02', hostname: 'pve2', ip: '127.0.0.3', cluster: 'lab' },
  { mac: '52:54:00:cf:00:03', hostname: 'pve3', ip: '127.0.0.4', cluster: 'lab' },
];

/** Runs the CLI as a child (stdout is a pipe, so not a TTY) without blocking the test's event loop. */
async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 90_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const result = await runProcess(HOMEPORT_BIN, args, { ...process.env, ...env }, timeoutMs);
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('homeport reprovision --wait against a running server', function () {
  this.timeout(180_000);
  const lab = useStubbedNodes();
  let homeport: CliLab;
  let server: ServerProcess;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    homeport = await startCliLab(lab.sshd, NODES, { prefix: 'homeport-cli-rp-' });
    ({ server, env } = homeport); // the CLI finds the server through the same config
  });
  afterEach(async () => expect(await homeport.stop()).to.equal(0));

  const tokenOf = (mac: string) => homeport.tokenOf(mac);

  it("shows the nodes' progress in plain lines while they report through the scripts, until clustered; exit 0", async () => {
    const cli = startProcess(
      HOMEPORT_BIN,
      ['reprovision', '--all', '--wait', '--poll', '0.3'],
      { ...process.env, ...env },
      90_000,
    );
    // The nodes "reboot" (the stub records it), then install and phone home, once the CLI has shown where they start from.
    for (let i = 0; lab.stubs.calls().length < 3; i++) {
      if (i > 600) throw new Error(`no reboots: ${lab.stubs.calls().join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await waitForOutput(cli, /pve1: pending \(0%\), reprovision in_progress/);
    await Promise.all(NODES.map(async (node) => simulateInstall(server.baseUrl, await tokenOf(node.mac), node)));
    const result = await cli.done;
    expect(result.status, result.stderr + result.stdout).to.equal(0);
    const lines = result.stdout.trim().split('\n');
    expect(lines.slice(0, 3)).to.deep.equal([
      'pve1: reprovisioning (reboot over ssh)',
      'pve2: reprovisioning (reboot over ssh)',
      'pve3: reprovisioning (reboot over ssh)',
    ]);
    expect(
      lines.some((l) =>
        /^\[\d\d:\d\d\] pve1: pending \(0%\), reprovision in_progress, \d\d:\d\d since restart$/.test(l),
      ),
      'first state',
    ).to.equal(true);
    expect(lines.some((l) => /^\[\d\d:\d\d\] pve2: .*reprovision clustered/.test(l))).to.equal(true);
    expect(lines).to.include('cluster lab: formed');
    expect(lines.at(-1)).to.equal('done: 3 node(s) reprovisioned, cluster lab formed');
    expect(result.stdout, 'no cursor movement when not a TTY').not.to.include('\x1b[');
    expect(lab.stubs.calls().sort()).to.deep.equal(['127.0.0.2 reboot', '127.0.0.3 reboot', '127.0.0.4 reboot']);

    const ls = runHomeport(['clusters', 'ls'], env);
    expect(ls.status, ls.stderr).to.equal(0);
    expect(ls.stdout.split('\n')[1]).to.match(/^lab\tscript\tformed\t3\tclustered=3\t/);
    // Forming it again is what the admin wanted anyway: said so, exit 0.
    const again = await runCli(['clusters', 'form', 'lab'], env);
    expect(again.code, again.stderr).to.equal(0);
    expect(again.stdout).to.equal('cluster lab is already formed (formed: every node is clustered); nothing to do\n');
    expect((await runCli(['clusters', 'form', 'nope'], env)).code, 'an unknown cluster is still an error').to.equal(1);
  });

  it('exits 4 when --timeout passes before the nodes are done, leaving them reprovisioning', async () => {
    const result = await runCli(
      ['reprovision', '--nodes', 'pve1,pve3', '--wait', '--timeout', '0.05', '--poll', '0.3'],
      env,
    );
    expect(result.code, result.stderr).to.equal(4);
    expect(result.stdout.trim().split('\n').at(-1)).to.equal(
      'timeout: not done after 00:03 (mm:ss); the reprovision goes on on the server',
    );
    expect(result.stderr).to.equal('homeport: timed out waiting\n');
    const ls = runHomeport(['nodes', 'ls'], env);
    expect(ls.stdout).to.match(/pve1\t127\.0\.0\.2\t-\tlab\tpending\tin_progress/);
  });

  it('stops waiting on Ctrl-C with exit 130 and undoes nothing', async () => {
    const cli = startProcess(
      HOMEPORT_BIN,
      ['reprovision', '--nodes', 'pve1', '--wait', '--poll', '0.3'],
      { ...process.env, ...env },
      90_000,
    );
    await waitForOutput(cli, /pve1: pending/);
    cli.child.kill('SIGINT');
    const { status, stderr } = await cli.done;
    expect(status, stderr).to.equal(130);
    expect(stderr).to.equal('homeport: stopped waiting; the reprovision goes on (homeport clusters ls)\n');
    expect(runHomeport(['nodes', 'ls'], env).stdout).to.match(/pve1\t127\.0\.0\.2\t-\tlab\tpending\tin_progress/);
  });

  it('exits 5 when a node fails, 3 for an unknown node, 2 for bad usage', async () => {
    const failing = runCli(['reprovision', '--nodes', 'pve2', '--wait', '--poll', '0.3'], env);
    for (let i = 0; !lab.stubs.calls().includes('127.0.0.3 reboot'); i++) {
      if (i > 600) throw new Error('no reboot');
      await new Promise((r) => setTimeout(r, 50));
    }
    await runClient(server.baseUrl, await tokenOf(NODES[1]!.mac), NODES[1]!, 'homeport-phase', [
      'installation',
      'failed',
      'disk not found',
    ]);
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
