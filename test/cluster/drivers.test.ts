import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import type { ClusterDriver, FormContext } from '../../server/cluster/driver.js';
import { createDriver } from '../../server/cluster/drivers.js';
import type { ClusterMember } from '../../server/cluster/plan.js';
import { clustersSchema } from '../../server/cluster/config.js';
import { captureLogger } from '../helpers/capture-log.js';
import { assertStubsFirst, testSshClient, useStubbedNodes } from '../helpers/ssh-fixture.js';

const MEMBERS: ClusterMember[] = [
  { id: 1, mac: '52:54:00:cc:00:01', hostname: 'pve1', ip: '127.0.0.2', clustered: false },
  { id: 2, mac: '52:54:00:cc:00:02', hostname: 'pve2', ip: '127.0.0.3', clustered: false },
  { id: 3, mac: '52:54:00:cc:00:03', hostname: 'pve3', ip: '127.0.0.4', clustered: false },
];

function context(cluster = 'lab'): FormContext & { stages: string[] } {
  const stages: string[] = [];
  return {
    cluster,
    members: MEMBERS,
    signal: new AbortController().signal,
    stages,
    progress: async (stage) => void stages.push(stage),
  };
}

async function formError(driver: ClusterDriver, ctx: FormContext): Promise<Error> {
  try {
    await driver.form(ctx);
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the formation to fail');
}

describe('cluster drivers over a real sshd (pvecm and k3s are recording stand-ins)', function () {
  this.timeout(120_000);
  const lab = useStubbedNodes({ perTest: true });

  const driverFor = (settings: Record<string, unknown>, log = captureLogger()) => {
    const parsed = clustersSchema.parse({ lab: { verifyTimeoutMs: 5000, ...settings } }).lab!;
    const ssh = testSshClient(lab.sshd, log.log);
    return {
      driver: createDriver({ ssh, retry: { attempts: 6, baseDelayMs: 200, maxDelayMs: 2000 }, log: log.log }, parsed),
      ssh,
      log,
    };
  };

  describe('proxmox', () => {
    it('creates on the first node, adds the others with --use_ssh, verifies; a rerun only checks', async () => {
      const { driver, ssh } = driverFor({ driver: 'proxmox' });
      await assertStubsFirst(ssh, lab.sshd);
      expect(driver.readinessPorts).to.deep.equal([8006]);
      const ctx = context();
      const result = await driver.form(ctx);
      expect(lab.stubs.calls()).to.deep.equal([
        '127.0.0.2 pvecm status',
        '127.0.0.2 pvecm create lab',
        '127.0.0.3 pvecm status',
        '127.0.0.3 pvecm add 127.0.0.2 --use_ssh',
        '127.0.0.4 pvecm status',
        '127.0.0.4 pvecm add 127.0.0.2 --use_ssh',
        '127.0.0.2 pvecm status',
      ]);
      expect(result.steps.at(-1)).to.equal('verified: 3 nodes, quorate');
      expect(ctx.stages).to.deep.equal(['create on pve1', 'join pve2', 'join pve3', 'verify']);

      lab.stubs.clearCalls();
      const again = await driver.form(context());
      expect(lab.stubs.calls(), 'membership is checked first, so nothing changes').to.deep.equal([
        '127.0.0.2 pvecm status',
        '127.0.0.3 pvecm status',
        '127.0.0.4 pvecm status',
        '127.0.0.2 pvecm status',
      ]);
      expect(again.steps).to.include('pve2: already a member');
    });

    it('refuses a node that is in another cluster, with the node and step named', async () => {
      const { driver, ssh } = driverFor({ driver: 'proxmox' });
      await ssh.run('127.0.0.3', 'pvecm create other');
      lab.stubs.clearCalls();
      const err = await formError(driver, context());
      expect(err.message).to.equal('join: pve2 is already in another cluster (other)');
      expect(lab.stubs.calls()).not.to.include('127.0.0.3 pvecm add 127.0.0.2 --use_ssh');
    });

    it("fails with the node's own message when pvecm add fails, and does not repeat a change that ran", async () => {
      const { driver } = driverFor({ driver: 'proxmox' });
      lab.stubs.failOnce('127.0.0.4', 'pvecm', 'add', 'unable to copy ssh ID: exit code 1');
      const err = await formError(driver, context());
      expect(err.message).to.match(
        /^ssh root@127\.0\.0\.4:\d+: `pvecm add '127\.0\.0\.2' --use_ssh` exited 1: unable to copy ssh ID: exit code 1$/,
      );
      expect(lab.stubs.calls().filter((c) => c.startsWith('127.0.0.4 pvecm add'))).to.have.length(1);
    });

    it('survives an SSH outage: connect failures are retried with backoff until sshd is back', async () => {
      const log = captureLogger();
      const { driver } = driverFor({ driver: 'proxmox' }, log);
      await lab.sshd.stop();
      const forming = driver.form(context());
      await log.waitFor(/ssh step failed, retrying/);
      await lab.sshd.start();
      const result = await forming;
      expect(result.steps.at(-1)).to.equal('verified: 3 nodes, quorate');
      expect(lab.stubs.calls().filter((c) => c.includes('create'))).to.deep.equal(['127.0.0.2 pvecm create lab']);
      expect(
        log.lines().some((l) => l.msg === 'ssh step failed, retrying' && String(l.err).includes('ECONNREFUSED')),
      ).to.equal(true);
    });
  });

  describe('k3s', () => {
    const k3s = () => ({ driver: 'k3s', k3s: { installCommand: 'k3s-install', tokenFile: lab.stubs.k3sTokenFile } });

    it('installs a --cluster-init server, reads its token, joins the others with it on stdin, verifies Ready', async () => {
      const { driver, log } = driverFor(k3s());
      const result = await driver.form(context());
      const server = 'https://127.0.0.2:6443';
      expect(lab.stubs.calls()).to.deep.equal([
        '127.0.0.2 k3s kubectl get nodes --no-headers',
        '127.0.0.2 k3s-install server --cluster-init --node-name pve1',
        '127.0.0.2 k3s kubectl get nodes --no-headers',
        `127.0.0.3 k3s-install server --server ${server} --node-name pve2`,
        `127.0.0.4 k3s-install server --server ${server} --node-name pve3`,
        '127.0.0.2 k3s kubectl get nodes --no-headers',
      ]);
      // The joiners got the server's token (through stdin: it is on no command line above).
      const env = fs.readFileSync(path.join(lab.stubs.stateDir, 'k3s-env.log'), 'utf8').trim().split('\n');
      expect(env).to.deep.equal([
        '127.0.0.2 k3s-install token=-',
        `127.0.0.3 k3s-install token=${lab.stubs.k3sToken}`,
        `127.0.0.4 k3s-install token=${lab.stubs.k3sToken}`,
      ]);
      expect(result.steps.at(-1)).to.equal('verified: 3 nodes Ready');
      expect(log.text(), 'token in the log').not.to.include(lab.stubs.k3sToken);

      lab.stubs.clearCalls();
      await driver.form(context());
      expect(
        lab.stubs.calls().filter((c) => c.includes('k3s-install')),
        'rerun installs nothing',
      ).to.deep.equal([]);
    });

    it('masks the join token when a node echoes it in an error', async () => {
      const { driver, log } = driverFor(k3s());
      lab.stubs.failOnce(
        '127.0.0.4',
        'k3s-install',
        'server',
        `[ERROR] token ${lab.stubs.k3sToken} rejected by server`,
      );
      const err = await formError(driver, context());
      expect(err.message).to.include('token **** rejected by server');
      expect(err.message + log.text()).not.to.include(lab.stubs.k3sToken);
    });
  });

  describe('script', () => {
    it('runs the executable with CLUSTER and NODES, and reports its failure with stderr', async () => {
      const script = path.join(lab.sshd.dir, 'form.sh');
      const record = path.join(lab.sshd.dir, 'form.log');
      fs.writeFileSync(
        script,
        `#!/bin/sh\nprintf '%s %s\\n' "$CLUSTER" "$NODES" >> ${record}\n[ -f ${record}.fail ] && { echo "boom: quorum lost" >&2; exit 3; }\necho formed\n`,
        { mode: 0o755 },
      );
      const { driver } = driverFor({ driver: 'script', script });
      const result = await driver.form(context());
      expect(result.steps).to.deep.equal([`${script}: ok (formed)`]);
      expect(fs.readFileSync(record, 'utf8')).to.equal(`lab ${JSON.stringify(MEMBERS)}\n`);
      fs.writeFileSync(`${record}.fail`, '');
      expect((await formError(driver, context())).message).to.equal(`script: ${script} exited 3: boom: quorum lost`);
    });
  });
});
