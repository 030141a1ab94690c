import { adminFields } from '../helpers/round-token.js';
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATABASE_KINDS, sharedDatabaseEnv } from '../helpers/databases.js';
import { startTestHomeport, type TestHomeport } from '../helpers/homeport.js';
import { runClient, simulateInstall, type SimulatedNode } from '../helpers/simulated-node.js';
import { sshEnv, useStubbedNodes } from '../helpers/ssh-fixture.js';

const NODES: SimulatedNode[] = [1, 2, 3, 4, 5].map((i) => ({
  mac: `52:54:00:77:00:0${i}`,
  hostname: `pve${i}`,
  ip: `127.0.0.${i + 1}`,
  cluster: 'lab',
}));

/**
 * Seed 002/004 jobs against real HTTP, a real sshd with recording node
 * commands (test/helpers/node-stubs.ts) and the real phone-home scripts,
 * two homeport instances on one database of each kind.
 */
for (const kind of DATABASE_KINDS) {
  describe(`jobs: stages, scheduling, cancel, retry, rolling reprovision, import (${kind})`, function () {
    this.timeout(240_000);
    const lab = useStubbedNodes({ listen: ['127.0.0.1', ...NODES.map((n) => n.ip)] });
    let dir: string;
    let formScript: string;
    let formLog: string;
    let a: TestHomeport;
    let b: TestHomeport;

    async function start(env: Record<string, string> = {}): Promise<void> {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-jobs-'));
      formLog = path.join(dir, 'formed.log');
      formScript = path.join(dir, 'form-cluster.sh');
      // The site's formation tooling (script driver): records each run; waits while a `hold` file exists; fails while `fail` says so.
      fs.writeFileSync(
        formScript,
        `#!/bin/sh\nwhile [ -f ${dir}/hold ]; do sleep 0.05; done\n[ -f ${dir}/fail ] && { cat ${dir}/fail >&2; exit 1; }\necho "$CLUSTER $(echo "$NODES" | tr -d ' \\n')" >> ${formLog}\necho formed\n`,
        { mode: 0o755 },
      );
      const all = {
        ...sshEnv(lab.sshd),
        ...(await sharedDatabaseEnv(kind, dir)),
        HOMEPORT_WATCHER__ENABLED: 'false', // the test ticks itself
        HOMEPORT_WATCHER__JOBPOLLMS: '50',
        HOMEPORT_WATCHER__JOBRETRYDELAYMS: '50',
        HOMEPORT_CLUSTERS: JSON.stringify({ lab: { driver: 'script', script: formScript } }),
        ...env,
      };
      a = await startTestHomeport({ env: all });
      b = await startTestHomeport({ env: all });
    }
    afterEach(async () => {
      await a?.stop();
      await b?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const job = async (id: number) => (await a.request('GET', `/api/jobs/${id}`, { admin: true })).body;
    const nodes = async () =>
      (await a.request('GET', '/api/nodes?limit=1000', { admin: true })).body.nodes as {
        id: number;
        hostname: string;
        reprovision_status: string | null;
      }[];
    const reboots = () => lab.stubs.calls().filter((c) => c.endsWith(' reboot'));
    const formations = () => (fs.existsSync(formLog) ? fs.readFileSync(formLog, 'utf8').trim().split('\n') : []);
    const tickBoth = () =>
      Promise.all([a.homeport.reprovisioning.watcher.tick(), b.homeport.reprovisioning.watcher.tick()]);

    async function register(list = NODES): Promise<void> {
      for (const node of list)
        await runClient(a.baseUrl, await a.tokenFor(node.mac, adminFields(node)), node, 'homeport-register', []);
    }

    /** A formed cluster to start from (set in the database: forming it for real is what test/watcher covers). */
    async function formedCluster(list = NODES): Promise<void> {
      await register(list);
      await a.homeport.db.knex('nodes').update({ reprovision_status: 'clustered' });
    }

    /** Three nodes of a formed cluster, all reinstalled since (completed): the cluster is due to form again. */
    async function reinstalledCluster(): Promise<void> {
      await formedCluster(NODES.slice(0, 3));
      await a.homeport.db.knex('nodes').update({ reprovision_status: 'completed' });
    }

    /** Until the job is no longer pending-and-due or running, ticking both instances; bounded. */
    async function settle(
      id: number,
      onRound: () => Promise<void> = async () => undefined,
      rounds = 300,
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- job rows of any type; the test reads the fields it asserts
    ): Promise<Record<string, any>> {
      for (let i = 0; i < rounds; i++) {
        await onRound();
        await tickBoth();
        const current = await job(id);
        if (['completed', 'failed', 'cancelled', 'paused'].includes(current.status)) return current;
        await sleep(60);
      }
      throw new Error(`job ${id} did not end: ${JSON.stringify(await job(id))}`);
    }

    it('two executors on one database never run a job twice', async () => {
      await start();
      await register(NODES.slice(0, 4));
      const runAt = new Date(Date.now() + 800).toISOString();
      const ids: number[] = [];
      for (let i = 0; i < 12; i++) {
        const created = await a.request('POST', '/api/jobs', {
          admin: true,
          body: { type: 'power', params: { nodes: [NODES[i % 4]!.hostname], action: 'reset' }, schedule_at: runAt },
        });
        expect(created.status, created.text).to.equal(202);
        ids.push(created.body.job.id);
      }
      await sleep(900);
      // Both instances drain the due jobs at the same moment, several times over.
      await Promise.all([tickBoth(), tickBoth(), tickBoth()]);
      const ended = await Promise.all(ids.map(job));
      expect(ended.map((j) => `${j.status}/${j.attempts}`)).to.deep.equal(ids.map(() => 'completed/1'));
      expect(reboots().sort(), 'one reboot per job').to.deep.equal(
        NODES.slice(0, 4)
          .flatMap((n) => [n.ip, n.ip, n.ip].map((ip) => `${ip} reboot`))
          .sort(),
      );
      const runners = new Set(ended.map((j) => /attempt 1 of 1 on (\S+)/.exec(j.log_tail.join('\n'))![1]));
      expect(runners.size, 'the log names the instance that ran it').to.be.at.least(1);
      expect(ended[0].stages.map((s: { name: string; state: string }) => `${s.name}:${s.state}`)).to.deep.equal([
        'preflight:completed',
        'power:completed',
      ]);
    });

    it('a scheduled job stays pending until its time, then re-checks: busy nodes are left alone, nothing to do ends early', async () => {
      await start();
      await register(NODES.slice(0, 2));
      const at = new Date(Date.now() + 1500).toISOString();
      const scheduled = await a.request('POST', '/api/reprovision', {
        admin: true,
        body: { nodes: ['pve1', 'pve2'], at },
      });
      expect(scheduled.status, scheduled.text).to.equal(202);
      expect(scheduled.body.job).to.include({ status: 'pending', run_at: at });
      await tickBoth();
      expect((await job(scheduled.body.job.id)).status, 'not before its time').to.equal('pending');
      expect(reboots()).to.deep.equal([]);

      // Meanwhile an admin reprovisions pve2 by hand.
      const now = await a.request('POST', '/api/reprovision', { admin: true, body: { nodes: ['pve2'] } });
      expect(now.status, now.text).to.equal(202);
      expect(now.body.job.status).to.equal('completed');
      expect(reboots()).to.deep.equal(['127.0.0.3 reboot']);

      await sleep(1600);
      const ran = await settle(scheduled.body.job.id);
      expect(ran.status).to.equal('completed');
      expect(ran.result).to.deep.include({ skipped: ['pve2'] });
      expect(reboots(), 'pve1 by the scheduled job, pve2 only by hand').to.deep.equal([
        '127.0.0.3 reboot',
        '127.0.0.2 reboot',
      ]);
      expect(ran.log_tail.join('\n')).to.include('skipping pve2: already reprovisioning');

      const later = await a.request('POST', '/api/jobs', {
        admin: true,
        body: { type: 'reprovision', params: { nodes: ['pve1', 'pve2'] }, schedule_at: Date.now() + 300 },
      });
      await sleep(400);
      const idle = await settle(later.body.job.id);
      expect(idle.status).to.equal('completed');
      expect(idle.result).to.deep.equal({ nothing_to_do: 'every node is already reprovisioning (pve1, pve2)' });
      expect(idle.stages.map((s: { name: string; state: string }) => `${s.name}:${s.state}`)).to.deep.equal([
        'preflight:completed',
        'restart:skipped',
      ]);
      expect(reboots()).to.have.length(2);
    });

    it('cancel: a queued job ends at once, a running one at its next stage boundary, an ended one is a 409', async () => {
      await start();
      await reinstalledCluster();
      fs.writeFileSync(path.join(dir, 'hold'), '');
      const form = await a.request('POST', '/api/clusters/lab/form', { admin: true });
      expect(form.status, form.text).to.equal(202);
      const id = form.body.job.id as number;
      for (let i = 0; i < 100 && (await job(id)).stage !== 'form'; i++) await sleep(50);
      const running = await job(id);
      expect(running.status).to.equal('running');
      const cancel = await b.request('POST', `/api/jobs/${id}/cancel`, { admin: true });
      expect(cancel.status, cancel.text).to.equal(200);
      expect(cancel.body).to.include({ status: 'running', cancel_requested: true });
      fs.rmSync(path.join(dir, 'hold'));
      let ended = await job(id);
      for (let i = 0; i < 100 && ended.status === 'running'; i++) ended = (await sleep(50), await job(id));
      expect(ended).to.include({ status: 'cancelled', error: 'cancelled by an admin before stage "record"' });
      expect(ended.stages.map((s: { name: string; state: string }) => `${s.name}:${s.state}`)).to.deep.equal([
        'check:completed',
        'form:completed',
        'record:pending',
      ]);
      expect((await a.request('GET', '/api/clusters/lab', { admin: true })).body.last_error).to.equal(
        `formation job ${id} was cancelled by an admin; form it again with POST /api/clusters/lab/form`,
      );
      expect(formations(), 'the running step finished; nothing after it ran').to.have.length(1);
      expect((await nodes()).map((n) => n.reprovision_status)).to.deep.equal(['completed', 'completed', 'completed']);

      const queued = await a.request('POST', '/api/jobs', {
        admin: true,
        body: { type: 'power', params: { nodes: ['pve1'], action: 'off' }, schedule_at: Date.now() + 60_000 },
      });
      const cancelled = await a.request('POST', `/api/jobs/${queued.body.job.id}/cancel`, { admin: true });
      expect(cancelled.body.status).to.equal('cancelled');
      const again = await a.request('POST', `/api/jobs/${queued.body.job.id}/cancel`, { admin: true });
      expect(again.status).to.equal(409);
      expect(again.body.detail).to.equal(`job ${queued.body.job.id} has already ended (cancelled)`);
    });

    it('a failing stage surfaces its error on the job and the cluster; retry resumes after the last completed stage', async () => {
      await start({ HOMEPORT_WATCHER__JOBATTEMPTS: '1' });
      await reinstalledCluster();
      fs.writeFileSync(path.join(dir, 'fail'), 'corosync: quorum not reached\n');
      const form = await a.request('POST', '/api/clusters/lab/form', { admin: true });
      const failed = await settle(form.body.job.id);
      const error = `script: ${formScript} exited 1: corosync: quorum not reached`;
      expect(failed).to.include({ status: 'failed', error });
      expect(
        failed.stages.map(
          (s: { name: string; state: string; message: string | null }) => `${s.name}:${s.state}:${s.message ?? ''}`,
        ),
      ).to.deep.equal(['check:completed:', `form:failed:${error}`, 'record:pending:']);
      expect((await a.request('GET', '/api/clusters/lab', { admin: true })).body).to.include({
        state: 'error',
        last_error: error,
      });
      const checkedAt = failed.stages[0].ended_at;

      fs.rmSync(path.join(dir, 'fail'));
      const retry = await a.request('POST', `/api/jobs/${form.body.job.id}/retry`, { admin: true });
      expect(retry.status, retry.text).to.equal(202);
      const done = await settle(form.body.job.id);
      expect(done.status).to.equal('completed');
      expect(done.stages.map((s: { name: string; state: string }) => `${s.name}:${s.state}`)).to.deep.equal([
        'check:completed',
        'form:completed',
        'record:completed',
      ]);
      expect(done.stages[0].ended_at, 'the completed stage was not run again').to.equal(checkedAt);
      expect((await nodes()).map((n) => n.reprovision_status)).to.deep.equal(['clustered', 'clustered', 'clustered']);
      expect(
        (await a.request('POST', `/api/jobs/${form.body.job.id}/retry`, { admin: true })).status,
        'a completed job is not retried',
      ).to.equal(409);
    });

    it('retries a failed formation by itself up to watcher.jobAttempts, the cluster forming meanwhile, then error', async () => {
      await start({ HOMEPORT_WATCHER__JOBATTEMPTS: '3' });
      await reinstalledCluster();
      fs.writeFileSync(path.join(dir, 'fail'), 'corosync: quorum not reached\n');
      const form = await a.request('POST', '/api/clusters/lab/form', { admin: true });
      const id = form.body.job.id as number;
      let sawRetrying = '';
      for (let i = 0; i < 100; i++) {
        await tickBoth();
        const cluster = (await a.request('GET', '/api/clusters/lab', { admin: true })).body;
        if (cluster.state === 'forming' && cluster.last_error) sawRetrying = cluster.last_error;
        if (cluster.state === 'error') break;
        await sleep(60);
      }
      expect(sawRetrying).to.match(
        /^attempt [12] of 3 failed, retrying: script: .* exited 1: corosync: quorum not reached$/,
      );
      const gaveUp = await job(id);
      expect(gaveUp).to.include({ status: 'failed', attempts: 3 });
      expect(gaveUp.log_tail.filter((l: string) => l.includes('retrying in'))).to.have.length(2);
      const history = (await a.request('GET', `/api/status/history/${NODES[0]!.mac}`)).body.entries as {
        phase: string;
        status: string;
        message: string;
      }[];
      expect(
        history.filter((e) => e.phase === 'cluster_formation').map((e) => e.message.split(':')[0]),
      ).to.have.members(['attempt 1 of 3', 'attempt 2 of 3', 'attempt 3 of 3']);

      // A passing second attempt forms it, without an admin.
      fs.writeFileSync(path.join(dir, 'fail'), 'transient\n');
      const second = await a.request('POST', '/api/clusters/lab/form', { admin: true });
      await tickBoth();
      fs.rmSync(path.join(dir, 'fail'));
      const formed = await settle(second.body.job.id);
      expect(formed).to.include({ status: 'completed', attempts: 2 });
      expect((await a.request('GET', '/api/clusters/lab', { admin: true })).body).to.include({
        state: 'formed',
        last_error: null,
      });
    });

    it('rolling reprovision of 5 nodes, max-unavailable 2: never more than 2 out, each batch rejoined before the next; a failure pauses it, retry resumes', async () => {
      await start();
      await formedCluster();
      const started = await a.request('POST', '/api/reprovision', {
        admin: true,
        body: { cluster: 'lab', rolling: true, max_unavailable: 2 },
      });
      expect(started.status, started.text).to.equal(202);
      const id = started.body.job.id as number;
      let mostOut = 0;
      const installed = new Set<string>();
      // Each round: nodes that were restarted install through the real scripts (the `failing` one reports a failed install); the watchers tick.
      const round = (failing?: string) => async () => {
        const list = await nodes();
        mostOut = Math.max(mostOut, list.filter((n) => n.reprovision_status !== 'clustered').length);
        for (const n of list.filter((x) => x.reprovision_status === 'in_progress' && !installed.has(x.hostname))) {
          installed.add(n.hostname);
          const node = NODES.find((x) => x.hostname === n.hostname)!;
          if (n.hostname === failing)
            await runClient(a.baseUrl, await a.tokenFor(node.mac), node, 'homeport-phase', [
              'installation',
              'failed',
              'no disk found',
            ]);
          else await simulateInstall(a.baseUrl, await a.tokenFor(node.mac), node);
        }
      };
      const done = await settle(id, round());
      expect(done.status, JSON.stringify(done)).to.equal('completed');
      expect(mostOut, 'at most max_unavailable nodes out at once').to.equal(2);
      expect(done.stages.map((s: { name: string; state: string }) => `${s.name}:${s.state}`)).to.deep.equal([
        'preflight:completed',
        'plan:completed',
        'batch 1/3: pve1, pve2:completed',
        'batch 2/3: pve3, pve4:completed',
        'batch 3/3: pve5:completed',
      ]);
      expect(reboots(), 'each node restarted once').to.have.length(5);
      const order = reboots().map((r) => r.split(' ')[0]);
      expect(order.slice(0, 2).sort()).to.deep.equal(['127.0.0.2', '127.0.0.3']);
      expect(order.slice(2, 4).sort()).to.deep.equal(['127.0.0.4', '127.0.0.5']);
      expect(order.slice(4)).to.deep.equal(['127.0.0.6']);
      expect(formations(), 'a formation (rejoin) per batch').to.have.length(3);
      expect((await nodes()).every((n) => n.reprovision_status === 'clustered')).to.equal(true);

      // Second run: pve3's install fails in batch 2; the job pauses there and batch 3 never starts.
      lab.stubs.clearCalls();
      installed.clear();
      const second = await a.request('POST', '/api/reprovision', {
        admin: true,
        body: { cluster: 'lab', rolling: true, max_unavailable: 2 },
      });
      const secondId = second.body.job.id as number;
      const paused = await settle(secondId, round('pve3'));
      expect(paused.status).to.equal('paused');
      expect(paused.error).to.match(/^batch 2\/3: pve3, pve4: pve3 is error; the job is paused/);
      expect(
        reboots()
          .map((r) => r.split(' ')[0])
          .sort(),
        'batch 3 was not started',
      ).to.deep.equal(['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5']);
      expect(mostOut).to.equal(2);

      // The admin fixes pve3 and retries: only pve3 is reinstalled, then batch 3 runs.
      installed.delete('pve3');
      const retry = await a.request('POST', `/api/jobs/${secondId}/retry`, { admin: true });
      expect(retry.status, retry.text).to.equal(202);
      const resumed = await settle(secondId, round());
      expect(resumed.status, JSON.stringify(resumed.error)).to.equal('completed');
      expect(
        reboots()
          .map((r) => r.split(' ')[0])
          .slice(4)
          .sort(),
      ).to.deep.equal(['127.0.0.4', '127.0.0.6']);
      expect(mostOut).to.equal(2);
    });

    it('imports registered-nodes.json: good rows created, bad rows rejected with the reason, a second import changes nothing', async () => {
      await start();
      const file = JSON.stringify({
        nodes: {
          'aa:bb:cc:dd:ee:01': {
            hostname: 'node1',
            ip: '10.0.0.101',
            mac: 'aa:bb:cc:dd:ee:01',
            type: 'proxmox',
            status: 'registered',
            reprovision_status: 'in_progress',
          },
          'aa:bb:cc:dd:ee:02': { hostname: 'node2', ip: '10.0.0.102', mac: 'aa:bb:cc:dd:ee:02', type: 'proxmox' },
          'aa:bb:cc:dd:ee:03': { hostname: 'node3\nreboot', ip: '10.0.0.103', mac: 'aa:bb:cc:dd:ee:03' },
          'not-a-mac': { hostname: 'node4', ip: '10.0.0.104' },
        },
      });
      const create = () =>
        a.request('POST', '/api/jobs', {
          admin: true,
          body: { type: 'import_nodes', params: { format: 'json', content: file } },
        });
      const first = await settle((await create()).body.job.id);
      expect(first.status).to.equal('completed');
      expect(first.result).to.deep.include({ created: 2, updated: 0, skipped: 0, rejected: 2 });
      expect(first.result.rows.map((r: { row: string; action: string }) => `${r.row}:${r.action}`)).to.have.members([
        '"aa:bb:cc:dd:ee:01":created',
        '"aa:bb:cc:dd:ee:02":created',
        '"aa:bb:cc:dd:ee:03":rejected',
        '"not-a-mac":rejected',
      ]);
      const list = await nodes();
      expect(list.map((n) => `${n.hostname}/${n.reprovision_status}`)).to.deep.equal(['node1/null', 'node2/null']);
      const second = await settle((await create()).body.job.id);
      expect(second.result).to.deep.include({ created: 0, updated: 0, skipped: 2, rejected: 2 });
      expect(await nodes()).to.deep.equal(list);
      const bad = await a.request('POST', '/api/jobs', {
        admin: true,
        body: { type: 'import_nodes', params: { format: 'xml', content: '' } },
      });
      expect(bad.status).to.equal(400);
      expect(bad.body.detail).to.equal('params.format: must be one of json, csv');
      const unknown = await a.request('POST', '/api/jobs', { admin: true, body: { type: 'defragment', params: {} } });
      expect(unknown.body.detail).to.equal('type: must be one of form_cluster, import_nodes, power, reprovision');
      expect(
        (
          await a.request('POST', '/api/jobs', {
            body: { type: 'import_nodes', params: { format: 'json', content: file } },
          })
        ).status,
      ).to.equal(401);
      const listed = await a.request('GET', '/api/jobs?type=import_nodes&status=completed', { admin: true });
      expect(listed.body.total).to.equal(2);
      expect(listed.body.jobs[0].params.content, 'lists leave the file out').to.equal(`(${file.length} characters)`);
    });
  });
}
