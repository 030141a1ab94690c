import { expect } from 'chai';
import { plainLine, ttyBlock, waitVerdict, type WatchedNode } from '../../server/cli/progress.js';
import { clusterVerdict, formationKey } from '../../server/cluster/plan.js';
import { loadConfig } from '../../server/config/load.js';
import { reprovisionChanges, selectTargets } from '../../server/reprovision/plan.js';
import type { Node } from '../../server/store/nodes-repo.js';
import { backoffDelay } from '../../server/util/retry.js';
import { decideNode } from '../../server/watcher/decide.js';

const base: Node = {
  id: 1,
  mac: '52:54:00:00:00:01',
  hostname: 'pve1',
  ip: '10.0.0.1',
  uuid: null,
  arch: null,
  type: null,
  profile: null,
  cluster: 'lab',
  labels: {},
  status: 'registered',
  deploymentStatus: 'pending',
  deploymentPhaseStatus: null,
  progress: null,
  reprovisionStatus: null,
  netbootEnabled: false,
  registeredAt: 0,
  lastUpdate: 0,
  phaseStartedAt: null,
  reprovisionStarted: null,
  reprovisionTimeoutMin: null,
  roundNonce: null,
  roundOpenedAt: null,
  roundClosesAt: null,
  roundBoundIp: null,
  observedIp: null,
  reportedIp: null,
};
const node = (over: Partial<Node>): Node => ({ ...base, ...over });

describe('reprovision core (pure)', () => {
  it('selects nodes by id, MAC spelling or hostname; --all skips discovered machines', () => {
    const nodes = [
      node({ id: 1 }),
      node({ id: 2, mac: '52:54:00:00:00:02', hostname: 'PVE2' }),
      node({ id: 3, mac: '52:54:00:00:00:03', hostname: null, status: 'discovered' }),
    ];
    expect(selectTargets(nodes, { refs: ['1', '5254.0000.0003', 'pve2', 'pve1', 'nope'] })).to.deep.equal({
      selected: [nodes[0], nodes[2], nodes[1]],
      unknown: ['nope'],
      ambiguous: [],
    });
    const twins = [...nodes, node({ id: 4, mac: '52:54:00:00:00:04', hostname: 'pve2' })];
    expect(selectTargets(twins, { refs: ['pve2', '4'] })).to.deep.equal({
      selected: [twins[3]],
      unknown: [],
      ambiguous: ['pve2 names 2 nodes: 2 (52:54:00:00:00:02), 4 (52:54:00:00:00:04); name one by its id or MAC'],
    });
    expect(selectTargets(nodes, { all: true }).selected.map((n) => n.id)).to.deep.equal([1, 2]);
  });

  it('starts a round: in_progress, netboot on, phases reset, a stale post-install-complete cleared', () => {
    const changes = reprovisionChanges(
      node({ status: 'post-install-complete', roundNonce: 'old-round', roundBoundIp: '10.0.0.1', roundClosesAt: 4000 }),
      5000,
      45,
    );
    expect(changes).to.deep.equal({
      reprovisionStatus: 'in_progress',
      reprovisionStarted: 5000,
      reprovisionTimeoutMin: 45,
      netbootEnabled: true,
      deploymentStatus: 'pending',
      deploymentPhaseStatus: null,
      progress: null,
      phaseStartedAt: 5000,
      status: 'registered',
      roundNonce: changes.roundNonce,
      roundOpenedAt: 5000,
      roundClosesAt: null,
      roundBoundIp: null,
    });
    expect(changes.roundNonce, 'a new install round: a fresh nonce')
      .to.match(/^[A-Za-z0-9_-]{24}$/)
      .and.not.equal('old-round');
    expect(reprovisionChanges(node({ status: 'discovered' }), 5000, 45)).not.to.have.property('status');
  });

  it('decides per node: wait, check readiness (also when late), or time out', () => {
    const started = node({ reprovisionStatus: 'in_progress', reprovisionStarted: 0, reprovisionTimeoutMin: 10 });
    expect(decideNode(started, false, 10 * 60_000, 45)).to.deep.equal({ action: 'wait' });
    expect(decideNode(started, false, 10 * 60_000 + 1, 45)).to.deep.equal({ action: 'timeout', minutes: 10 });
    expect(decideNode(started, true, 10 * 60_000 + 1, 45)).to.deep.equal({ action: 'check_ready', overdue: true });
    expect(decideNode({ ...started, reprovisionTimeoutMin: null }, false, 44 * 60_000, 45)).to.deep.equal({
      action: 'wait',
    });
  });

  it('forms a cluster only when every node is done, with clustered members first and one key per round', () => {
    const done = (id: number, hostname: string, status: Node['reprovisionStatus'], started = 100) =>
      node({ id, hostname, mac: `52:54:00:00:00:0${id}`, reprovisionStatus: status, reprovisionStarted: started });
    expect(clusterVerdict([done(1, 'a', 'completed'), done(2, 'b', 'in_progress')], null)).to.deep.include({
      form: false,
      reason: 'waiting for b (in_progress)',
    });
    expect(clusterVerdict([done(1, 'a', 'completed'), done(2, 'b', 'timeout')], null)).to.deep.include({
      form: false,
      blocked: true,
      reason: 'not formed: b is timeout',
    });
    expect(clusterVerdict([done(1, 'a', 'completed')], 3)).to.deep.include({
      form: false,
      reason: '1 of 3 expected nodes registered',
    });
    expect(clusterVerdict([done(1, 'a', 'clustered')], null)).to.deep.include({
      form: false,
      reason: 'formed: every node is clustered',
    });
    const verdict = clusterVerdict(
      [done(1, 'c', 'completed', 300), done(2, 'a', 'completed', 200), done(3, 'b', 'clustered', 50)],
      3,
    );
    expect(verdict.form && verdict.members.map((m) => m.hostname)).to.deep.equal(['b', 'a', 'c']);
    expect(verdict.form && verdict.round).to.equal(300);
    expect(verdict.form && verdict.joining).to.deep.equal([1, 2]);
    expect(formationKey('lab', 300)).to.equal('form_cluster:lab:300');
    expect(formationKey('lab', 300, 7)).to.equal('form_cluster:lab:300:after-7');
  });

  it('backs off exponentially up to the cap', () => {
    expect(
      [1, 2, 3, 4, 5].map((a) => backoffDelay({ attempts: 5, baseDelayMs: 100, maxDelayMs: 500 }, a)),
    ).to.deep.equal([100, 200, 400, 500, 500]);
  });

  it('--wait: done when all are clustered (or completed without a cluster), failed on a timeout or a cluster error', () => {
    const w = (over: Partial<WatchedNode>): WatchedNode => ({
      id: 1,
      mac: 'm',
      hostname: 'pve1',
      cluster: 'lab',
      deployment_status: 'deployed',
      phase_status: 'completed',
      phase_progress: null,
      overall_progress: 100,
      reprovision_status: 'clustered',
      reprovision_started: null,
      ...over,
    });
    expect(waitVerdict([w({}), w({ id: 2, cluster: null, reprovision_status: 'completed' })], [])).to.deep.equal({
      done: true,
      ok: true,
      message: 'done: 2 node(s) reprovisioned, cluster lab formed',
    });
    expect(
      waitVerdict([w({ reprovision_status: 'completed' })], [{ name: 'lab', state: 'forming', last_error: null }]),
    ).to.deep.equal({ done: false });
    expect(
      waitVerdict([w({ reprovision_status: 'completed' })], [{ name: 'lab', state: 'error', last_error: 'boom' }]),
    ).to.deep.equal({ done: true, ok: false, message: 'failed: cluster lab: boom' });
    expect(waitVerdict([w({ reprovision_status: 'timeout' })], [])).to.deep.equal({
      done: true,
      ok: false,
      message: 'failed: pve1 timeout',
    });
    const block = ttyBlock(
      [
        w({
          reprovision_status: 'in_progress',
          deployment_status: 'installation',
          phase_status: 'in_progress',
          overall_progress: 50,
          reprovision_started: new Date(0).toISOString(),
        }),
      ],
      [{ name: 'lab', state: 'pending', last_error: null }],
      75_000,
    );
    expect(block).to.deep.equal([
      'pve1 [##########----------]  50%  01:15  in_progress installation (in_progress)',
      'cluster lab: pending',
    ]);
    // Progress within a phase shows, so a long image_download does not look frozen.
    const downloading = w({
      reprovision_status: 'in_progress',
      deployment_status: 'image_download',
      phase_status: 'in_progress',
      phase_progress: 60,
      overall_progress: 57,
      reprovision_started: new Date(0).toISOString(),
    });
    expect(ttyBlock([downloading], [], 75_000)[0]).to.equal(
      'pve1 [###########---------]  57%  01:15  in_progress image_download (in_progress 60%)',
    );
    expect(plainLine(downloading, 75_000, 0)).to.equal(
      '[01:15] pve1: image_download in_progress 60% (57%), reprovision in_progress, 01:15 since restart',
    );
  });

  it('config: defaults, and a wrong value is one line naming the key', () => {
    const { config } = loadConfig(undefined, { HOMEPORT_DATADIR: '/tmp/hp' });
    expect(config.watcher).to.include({
      schedule: '*/30 * * * * *',
      reprovisionTimeoutMin: 45,
      sshTimeoutMs: 10_000,
      enabled: true,
    });
    expect(config.reprovision.method).to.equal('ssh');
    expect(config.ssh).to.include({ user: 'root', port: 22, keyFile: '/tmp/hp/ssh/id_ed25519', hostKeys: 'pinned' });
    const bad: [Record<string, string>, string][] = [
      [
        { HOMEPORT_WATCHER__SCHEDULE: 'every minute' },
        'environment HOMEPORT_WATCHER__SCHEDULE: watcher.schedule: must be a cron expression, e.g. */30 * * * * * (every 30 s)',
      ],
      [
        { HOMEPORT_REPROVISION__METHOD: 'ipmi' },
        'environment HOMEPORT_REPROVISION__METHOD: reprovision.method: must be one of ssh, redfish, none (got "ipmi")',
      ],
      [
        { HOMEPORT_CLUSTERS: '{"lab":{"driver":"script"}}' },
        'environment HOMEPORT_CLUSTERS: clusters.lab.script: is required when driver is script',
      ],
      [
        { HOMEPORT_CLUSTERS: '{"lab":{"driver":"swarm"}}' },
        'environment HOMEPORT_CLUSTERS: clusters.lab.driver: must be one of proxmox, k3s, script (got "swarm")',
      ],
      [
        { HOMEPORT_WATCHER__REPROVISIONTIMEOUTMIN: '0' },
        'environment HOMEPORT_WATCHER__REPROVISIONTIMEOUTMIN: watcher.reprovisionTimeoutMin: must be at least 1',
      ],
    ];
    for (const [env, message] of bad) {
      expect(() => loadConfig(undefined, env), JSON.stringify(env)).to.throw(message);
    }
  });
});
