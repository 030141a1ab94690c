import { adminFields } from '../helpers/round-token.js';
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DATABASE_KINDS, sharedDatabaseEnv } from '../helpers/databases.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { runClient, simulateInstall, type SimulatedNode } from '../helpers/simulated-node.js';
import { sshEnv, useStubbedNodes } from '../helpers/ssh-fixture.js';

const NODES: SimulatedNode[] = [
  { mac: '52:54:00:ee:00:01', hostname: 'pve1', ip: '127.0.0.2', cluster: 'lab' },
  { mac: '52:54:00:ee:00:02', hostname: 'pve2', ip: '127.0.0.3', cluster: 'lab' },
  { mac: '52:54:00:ee:00:03', hostname: 'pve3', ip: '127.0.0.4', cluster: 'lab' },
];

for (const kind of DATABASE_KINDS) {
  describe(`reprovision to cluster through the real phone-home scripts, two instances on one ${kind} database`, function () {
    this.timeout(180_000);
    const lab = useStubbedNodes();
    let dir: string;
    let formScript: string;
    let formLog: string;
    let a: TestHomeport;
    let b: TestHomeport;

    beforeEach(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-formation-'));
      formLog = path.join(dir, 'formed.log');
      formScript = path.join(dir, 'form-cluster.sh');
      // The site's formation tooling (script driver): records each run; slow enough that overlapping runs would show.
      fs.writeFileSync(
        formScript,
        `#!/bin/sh\n[ -f ${dir}/fail ] && { cat ${dir}/fail >&2; exit 1; }\necho "$CLUSTER $NODES" >> ${formLog}\nsleep 0.3\necho "cluster $CLUSTER formed"\n`,
        { mode: 0o755 },
      );
      const env = {
        ...sshEnv(lab.sshd),
        ...(await sharedDatabaseEnv(kind, dir)),
        HOMEPORT_WATCHER__ENABLED: 'false', // the test calls tick() itself
        HOMEPORT_WATCHER__SSHTIMEOUTMS: '20000',
        // One attempt per job: the automatic retry of a failed formation is tested in test/jobs.
        HOMEPORT_WATCHER__JOBATTEMPTS: '1',
        HOMEPORT_CLUSTERS: JSON.stringify({ lab: { driver: 'script', script: formScript, expectedNodes: 3 } }),
      };
      a = await startTestHomeport({ env });
      b = await startTestHomeport({ env });
    });
    afterEach(async () => {
      await a.stop();
      await b.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const ticksInParallel = () =>
      Promise.all([
        a.homeport.reprovisioning.watcher.tick(),
        b.homeport.reprovisioning.watcher.tick(),
        a.homeport.reprovisioning.watcher.tick(),
        b.homeport.reprovisioning.watcher.tick(),
      ]);
    const statuses = async () =>
      (
        (await a.request('GET', '/api/nodes', { admin: true })).body.nodes as {
          hostname: string;
          reprovision_status: string;
        }[]
      ).map((n) => `${n.hostname}=${n.reprovision_status}`);
    const formations = () => (fs.existsSync(formLog) ? fs.readFileSync(formLog, 'utf8').trim().split('\n') : []);
    const formJobs = async () =>
      (await a.homeport.db.knex('jobs').where({ type: 'form_cluster' }).orderBy('id')) as {
        status: string;
        error: string | null;
        dedupe_key: string;
      }[];

    async function registerAndReprovision(): Promise<void> {
      for (const node of NODES)
        await runClient(a.baseUrl, await a.tokenFor(node.mac, adminFields(node)), node, 'homeport-register', []);
      const started = await a.request('POST', '/api/reprovision', { admin: true, body: { all: true } });
      expect(started.status, started.text).to.equal(202);
      expect(started.body.nodes.map((n: { restart: { ok: boolean } }) => n.restart.ok)).to.deep.equal([
        true,
        true,
        true,
      ]);
      expect(lab.stubs.calls().sort(), 'reboot ran on each node over SSH (in parallel)').to.deep.equal([
        '127.0.0.2 reboot',
        '127.0.0.3 reboot',
        '127.0.0.4 reboot',
      ]);
    }

    it('forms the cluster exactly once, only after the last node completes, however many watchers tick', async () => {
      await registerAndReprovision();
      await simulateInstall(a.baseUrl, await a.tokenFor(NODES[0]!.mac), NODES[0]!);
      await simulateInstall(a.baseUrl, await a.tokenFor(NODES[1]!.mac), NODES[1]!);
      const early = await ticksInParallel();
      expect(early.filter((r) => r.leader).length, 'one leader per round of ticks').to.be.at.least(1);
      expect(await statuses()).to.deep.equal(['pve1=completed', 'pve2=completed', 'pve3=in_progress']);
      expect(formations(), 'not before the last node').to.deep.equal([]);
      expect(await formJobs()).to.deep.equal([]);

      // The last node finishes the way seed 000's post-install script does.
      await simulateInstall(a.baseUrl, await a.tokenFor(NODES[2]!.mac), NODES[2]!, 'register');
      for (let i = 0; i < 3; i++) await ticksInParallel();
      expect(formations()).to.have.length(1);
      const [cluster, nodesJson] = [
        formations()[0]!.split(' ')[0],
        JSON.parse(formations()[0]!.slice('lab '.length)) as { hostname: string; ip: string }[],
      ];
      expect(cluster).to.equal('lab');
      expect(nodesJson.map((n) => `${n.hostname}@${n.ip}`)).to.deep.equal([
        'pve1@127.0.0.2',
        'pve2@127.0.0.3',
        'pve3@127.0.0.4',
      ]);
      expect(await statuses()).to.deep.equal(['pve1=clustered', 'pve2=clustered', 'pve3=clustered']);
      const jobs = await formJobs();
      expect(jobs).to.have.length(1);
      expect(jobs[0]!.status).to.equal('completed');
      expect(jobs[0]!.dedupe_key).to.match(/^form_cluster:lab:\d+$/);
      const clusters = await b.request('GET', '/api/clusters', { admin: true });
      expect(clusters.body.clusters[0]).to.include({
        name: 'lab',
        driver: 'script',
        state: 'formed',
        nodes: 3,
        last_error: null,
      });
      expect(clusters.body.clusters[0].by_status).to.deep.equal({ clustered: 3 });

      for (let i = 0; i < 2; i++) await ticksInParallel();
      expect(formations(), 'a formed round is never formed again').to.have.length(1);
      const history = await a.request('GET', `/api/status/history/${NODES[2]!.mac}`);
      const sources = history.body.entries.map(
        (e: { source: string; phase: string; status: string }) => `${e.source}:${e.phase}:${e.status}`,
      );
      expect(sources).to.include.members([
        'admin:pending:in_progress',
        'admin:reprovision:in_progress',
        'watcher:reprovision:completed',
        'watcher:cluster_formation:completed',
      ]);
    });

    it('records a failed formation on the cluster and the job, keeps nodes completed, and forms on retry', async () => {
      await registerAndReprovision();
      fs.writeFileSync(path.join(dir, 'fail'), 'corosync: quorum not reached\n');
      for (const node of NODES) await simulateInstall(a.baseUrl, await a.tokenFor(node.mac), node);
      for (let i = 0; i < 2; i++) await ticksInParallel();
      const failed = await a.request('GET', '/api/clusters/lab', { admin: true });
      expect(failed.body).to.include({
        state: 'error',
        last_error: `script: ${formScript} exited 1: corosync: quorum not reached`,
      });
      expect(failed.body.last_job).to.include({
        status: 'failed',
        error: `script: ${formScript} exited 1: corosync: quorum not reached`,
      });
      expect(await statuses()).to.deep.equal(['pve1=completed', 'pve2=completed', 'pve3=completed']);
      expect(
        (await formJobs()).map((j) => j.status),
        'the watcher does not retry a failed round by itself',
      ).to.deep.equal(['failed']);

      fs.rmSync(path.join(dir, 'fail'));
      const retry = await b.request('POST', '/api/clusters/lab/form', { admin: true });
      expect(retry.status, retry.text).to.equal(202);
      expect(retry.body.created).to.equal(true);
      const again = await a.request('POST', '/api/clusters/lab/form', { admin: true });
      expect(again.body, 'a second click joins the queued retry').to.deep.include({ created: false });
      await ticksInParallel();
      expect(await statuses()).to.deep.equal(['pve1=clustered', 'pve2=clustered', 'pve3=clustered']);
      expect((await formJobs()).map((j) => j.status)).to.deep.equal(['failed', 'completed']);
      expect(formations()).to.have.length(1);
      const formedAgain = await a.request('POST', '/api/clusters/lab/form', { admin: true });
      expect(formedAgain.status).to.equal(409);
      expect(formedAgain.body.detail).to.equal('formed: every node is clustered');
    });
  });
}
