import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HOMEPORT_BIN, runHomeport, runProcess, type ServerProcess } from '../helpers/cli.js';
import { startCliLab, type CliLab } from '../helpers/cli-lab.js';
import { simulateInstall, type SimulatedNode } from '../helpers/simulated-node.js';
import { useStubbedNodes } from '../helpers/ssh-fixture.js';

const NODES: SimulatedNode[] = [1, 2, 3].map((i) => ({
  mac: `52:54:00:cd:00:0${i}`,
  hostname: `pve${i}`,
  ip: `127.0.0.${i + 1}`,
  cluster: 'lab',
}));

/** The CLI as a child process (stdout a pipe: plain lines), against `homeport serve` with its watcher on a 1 s schedule. */
describe('homeport jobs, reprovision --rolling and nodes import against a running server', function () {
  this.timeout(240_000);
  let homeport: CliLab | undefined;
  // Registered before the sshd's hooks, so that the server stops while sshd still answers.
  after(async () => homeport?.stop());
  const lab = useStubbedNodes();
  let dir: string;
  let server: ServerProcess;
  let env: NodeJS.ProcessEnv;
  const cli = async (args: string[], timeoutMs = 120_000) =>
    runProcess(HOMEPORT_BIN, args, { ...process.env, ...env }, timeoutMs);
  const token = (mac: string) => homeport!.tokenOf(mac);
  const nodesJson = async () =>
    (
      (await (
        await fetch(`${server.baseUrl}/api/nodes`, { headers: { authorization: `Bearer ${homeport!.adminToken()}` } })
      ).json()) as { nodes: { hostname: string; reprovision_status: string | null }[] }
    ).nodes;

  /** Installs every node that was restarted, through the real phone-home scripts, until `stop`; bounded. */
  async function installWhileRestarted(stop: () => boolean): Promise<void> {
    const done = new Map<string, number>();
    for (let i = 0; i < 1200 && !stop(); i++) {
      const reboots = lab.stubs.calls().filter((c) => c.endsWith(' reboot'));
      for (const node of NODES) {
        const count = reboots.filter((c) => c.startsWith(`${node.ip} `)).length;
        if (count > (done.get(node.ip) ?? 0)) {
          done.set(node.ip, count);
          await simulateInstall(server.baseUrl, await token(node.mac), node);
        }
      }
      await sleep(100);
    }
  }

  before(async () => {
    homeport = await startCliLab(lab.sshd, NODES, {
      prefix: 'homeport-cli-jobs-',
      env: { HOMEPORT_WATCHER__JOBPOLLMS: '200' },
    });
    ({ dir, server, env } = homeport);
    // A formed cluster to roll through: reprovision all once and let it form.
    let formed = false;
    const first = cli(['reprovision', '--all', '--wait', '--poll', '0.3']).then((r) => ((formed = true), r));
    await installWhileRestarted(() => formed);
    expect((await first).status).to.equal(0); // useStubbedNodes clears these reboots from the stubs' log before each test
  });

  it('reprovision --cluster --rolling --max-unavailable 2 --wait follows the job batch by batch until done; jobs ls and show', async () => {
    let ended = false;
    const rolling = cli([
      'reprovision',
      '--cluster',
      'lab',
      '--rolling',
      '--max-unavailable',
      '2',
      '--wait',
      '--poll',
      '0.3',
    ]).then((r) => ((ended = true), r));
    let mostOut = 0;
    const watchOut = (async () => {
      for (let i = 0; i < 2400 && !ended; i++) {
        mostOut = Math.max(mostOut, (await nodesJson()).filter((n) => n.reprovision_status !== 'clustered').length);
        await sleep(50);
      }
    })();
    await installWhileRestarted(() => ended);
    const result = await rolling;
    await watchOut;
    if (process.env.SHOW_CLI_OUTPUT) process.stderr.write(result.stdout);
    expect(result.status, result.stderr + result.stdout).to.equal(0);
    const lines = result.stdout.trim().split('\n');
    const id = /^job (\d+): reprovision pending \(homeport jobs wait \1\)$/.exec(lines[0]!)?.[1];
    expect(id, lines[0]).to.be.a('string');
    expect(lines).to.include(`job ${id} batch 1/2: pve1, pve2: running`);
    expect(lines).to.include(`job ${id} batch 2/2: pve3: completed`);
    expect(lines.some((l) => /^\[\d\d:\d\d\] pve3: .*reprovision clustered/.test(l))).to.equal(true);
    expect(lines.at(-1)).to.equal(`job ${id} completed`);
    expect(mostOut).to.be.at.most(2);
    const reboots = lab.stubs.calls().map((c) => c.split(' ')[0]);
    expect(reboots.slice(0, 2).sort()).to.deep.equal(['127.0.0.2', '127.0.0.3']);
    expect(reboots.slice(2)).to.deep.equal(['127.0.0.4']);

    const ls = await cli(['jobs', 'ls', '--type', 'reprovision']);
    expect(ls.status, ls.stderr).to.equal(0);
    expect(ls.stdout.split('\n')[0]).to.equal('ID\tTYPE\tSTATUS\tSTAGE\tPERCENT\tCREATED\tDETAIL');
    expect(ls.stdout.split('\n')[1]).to.match(
      new RegExp(`^${id}\\treprovision\\tcompleted\\tbatch 2/2: pve3\\t100%\\t`),
    );
    const show = await cli(['jobs', 'show', id!]);
    expect(show.stdout).to.match(new RegExp(`^job ${id}: reprovision completed \\(attempt 1, `));
    expect(show.stdout).to.include('  ✔ batch 1/2: pve1, pve2: completed');
    expect(show.stdout).to.include('log:');
  });

  it('schedules with --at and cancels with jobs cancel; unknown jobs exit 3', async () => {
    lab.stubs.clearCalls();
    const at = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await cli(['reprovision', '--all', '--at', at]);
    expect(scheduled.status, scheduled.stderr).to.equal(0);
    const match = /^job (\d+): reprovision pending, runs at (\S+) \(homeport jobs wait \1\)\n$/.exec(scheduled.stdout);
    expect(match, scheduled.stdout).to.not.equal(null);
    expect(match![2]).to.equal(at);
    const cancelled = await cli(['jobs', 'cancel', match![1]!]);
    expect(cancelled.stdout).to.equal(`job ${match![1]} cancelled\n`);
    const wait = await cli(['jobs', 'wait', match![1]!]);
    expect(wait.status).to.equal(5);
    expect(wait.stdout.trim().split('\n').at(-1)).to.equal(
      `job ${match![1]} cancelled: cancelled by an admin before it ran on`,
    );
    expect((await cli(['jobs', 'show', '99999'])).status).to.equal(3);
    const usage = await cli(['reprovision', '--all', '--at', 'soon']);
    expect(usage.status).to.equal(2);
    expect(usage.stderr).to.equal('homeport: --at soon: not a time; use ISO 8601 such as 2026-12-01T02:00:00Z\n');
    expect(lab.stubs.calls(), 'nothing was restarted').to.deep.equal([]);
  });

  it('nodes import FILE: a line per row, bad rows rejected with the reason (exit 5), a second import skips everything', async () => {
    const file = path.join(dir, 'nodes.csv');
    fs.writeFileSync(
      file,
      'mac,hostname,ip,profile,cluster\n52:54:00:cd:00:0a,edge1,10.9.0.1,debian,\n52:54:00:cd:00:0b,edge2;reboot,10.9.0.2,,\n52:54:00:cd:00:01,pve1,127.0.0.2,,lab\n52:54:00:cd:00:0c,edge3,10.9.0.3,debain,\n',
    );
    const first = await cli(['nodes', 'import', file]);
    expect(first.status, first.stderr).to.equal(5);
    // One line per row, in file order (rejected rows are known at parse time, before any is imported).
    expect(first.stdout.split('\n').filter((l) => l.startsWith('line '))).to.deep.equal([
      'line 2 52:54:00:cd:00:0a: created (new node)',
      'line 3: rejected (hostname: must be an RFC 1123 hostname: letters, digits and hyphens, dot-separated labels of 1-63 characters, at most 253 in all)',
      'line 4 52:54:00:cd:00:01: skipped (unchanged)',
      'line 5: rejected (profile: no profile debain (known: debian, linux-initramfs, proxmox))',
    ]);
    const jobId = /^job (\d+):/m.exec(first.stdout)![1]!;
    const shownJob = await cli(['jobs', 'show', jobId]);
    expect(shownJob.stdout, 'the finished stage says all rows, not the last progress step').to.include(
      'import: completed (2 of 2 row(s))',
    );
    expect(shownJob.stdout).not.to.match(/row 1 of/);
    // Times as everywhere else a person reads them: to the second, no milliseconds, no epoch numbers.
    expect(shownJob.stdout).to.match(
      /created \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ, runs at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)/,
    );
    expect(shownJob.stdout).to.match(/^ {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ line 2 /m);
    expect(shownJob.stdout).not.to.match(/\.\d{3}Z/);
    const help = runHomeport(['nodes', 'import', '--help'], env);
    expect(help.stdout.replace(/\s+/g, ' ')).to.include('exit 5 when a row was rejected');
    expect(first.stdout).to.match(/job \d+: 1 created, 0 updated, 1 skipped, 2 rejected\n$/);
    const second = await cli(['nodes', 'import', file]);
    expect(second.stdout).to.match(/job \d+: 0 created, 0 updated, 2 skipped, 2 rejected\n$/);
    const shown = runHomeport(['nodes', 'show', 'edge1'], env);
    expect(shown.stdout).to.match(/profile\s+debian/);
    const missing = await cli(['nodes', 'import', path.join(dir, 'nope.json')]);
    expect(missing.status).to.equal(3);
  });
});
