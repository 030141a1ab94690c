import { expect } from 'chai';
import net from 'node:net';
import { captureLogger } from '../helpers/capture-log.js';
import { freshDatabase } from '../helpers/databases.js';
import { installNodeStubs, type NodeStubs } from '../helpers/node-stubs.js';
import { reprovisioningHarness, type Harness } from '../helpers/reprovisioning.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';

/** Not one of the test sshd's addresses: the hanging listener takes the SSH port here. */
const HANGING_IP = '127.0.0.6';
const TIMEOUT_MS = 800;

/** Accepts TCP connections on the SSH port and never says a word (a wedged node, a half-dead BMC NAT). */
async function startHangingListener(port: number): Promise<{ accepted: () => number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, HANGING_IP, resolve));
  return {
    accepted: () => accepted,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function elapsed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

describe('a hanging SSH target: timed out, retried, never blocks the watcher', function () {
  this.timeout(60_000);
  let sshd: TestSshd;
  let stubs: NodeStubs;
  let hanging: Awaited<ReturnType<typeof startHangingListener>>;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let h: Harness;
  before(async () => {
    sshd = await startTestSshd();
    stubs = installNodeStubs(sshd.binDir);
    hanging = await startHangingListener(sshd.port);
  });
  after(async () => {
    await hanging?.close();
    await sshd?.dispose();
  });
  beforeEach(async () => {
    stubs.clearCalls();
    db = await freshDatabase('sqlite');
  });
  afterEach(async () => {
    await h?.rp.stop();
    await db.close();
  });

  const harness = async (config: Record<string, unknown>) =>
    (h = await reprovisioningHarness(db, {
      clock: Date.now,
      log: captureLogger().log,
      sshd,
      config: {
        reprovision: { method: 'none' },
        ssh: { connectTimeoutMs: TIMEOUT_MS, retries: 2, retryDelayMs: 100 },
        watcher: { sshTimeoutMs: TIMEOUT_MS },
        ...config,
      },
    }));
  const deployedNode = async (mac: string, fields: { hostname: string; ip: string; cluster?: string }) => {
    const node = await h.nodes.create(mac, fields);
    return node;
  };
  const installAll = async () => {
    await h.rp.reprovision.start({ all: true });
    for (const node of await h.nodes.list({}))
      await h.nodes.reportPhase({ id: node.id }, { phase: 'deployed', status: 'completed', source: 'installer' });
  };

  it('readiness against it times out within the configured timeout, the other node completes in the same tick, the next tick retries', async () => {
    await harness({});
    const hung = await deployedNode('52:54:00:bb:00:01', { hostname: 'hung', ip: HANGING_IP });
    const fine = await deployedNode('52:54:00:bb:00:02', { hostname: 'fine', ip: '127.0.0.2' });
    await installAll();
    const before = hanging.accepted();

    const first = await elapsed(() => h.rp.watcher.tick());
    expect(first.value.completed).to.deep.equal([fine.id]);
    expect(first.value.notReady).to.have.length(1);
    expect(first.value.notReady[0]).to.include({ id: hung.id });
    expect(first.value.notReady[0]!.detail).to.match(new RegExp(`no SSH session within ${TIMEOUT_MS} ms`));
    expect(first.ms, 'the tick waits one readiness timeout, not longer').to.be.below(TIMEOUT_MS + 1500);

    const second = await elapsed(() => h.rp.watcher.tick());
    expect(
      second.value.notReady.map((n) => n.id),
      'retried on the next tick',
    ).to.deep.equal([hung.id]);
    expect(second.ms).to.be.below(TIMEOUT_MS + 1500);
    expect(hanging.accepted() - before, 'one connection per tick').to.equal(2);
    expect((await h.nodes.byId(hung.id))?.reprovisionStatus).to.equal('in_progress');
  });

  it("a formation against it times out after its retries and fails; another cluster's formation is not held up by it", async () => {
    await harness({
      clusters: {
        // Its node runs no sshd for readiness (deployed report alone), so the formation is what meets the hang.
        stuck: { driver: 'proxmox', readinessSsh: false, readinessPorts: [], expectedNodes: 1 },
        good: { driver: 'proxmox', readinessPorts: [], expectedNodes: 1 },
      },
    });
    await deployedNode('52:54:00:bb:00:03', { hostname: 'hung', ip: HANGING_IP, cluster: 'stuck' });
    await deployedNode('52:54:00:bb:00:04', { hostname: 'pve1', ip: '127.0.0.2', cluster: 'good' });
    await installAll();
    const before = hanging.accepted();

    const tick = await elapsed(() => h.rp.watcher.tick({ waitForJobs: false }));
    expect(tick.value.queued.map((q) => q.cluster).sort()).to.deep.equal(['good', 'stuck']);
    expect(tick.ms, 'the tick only queues; it never waits for a formation').to.be.below(TIMEOUT_MS + 1500);

    // Watch both: when good's pvecm create runs, and when stuck's attempt ends in its timeout.
    const stuckError = async () =>
      (
        (await db
          .knex('jobs')
          .where({ id: tick.value.queued.find((q) => q.cluster === 'stuck')!.job })
          .first()) as { error: string | null }
      ).error;
    const seen: { goodCreate?: number; stuckFailed?: number; error?: string } = {};
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (seen.goodCreate === undefined || seen.stuckFailed === undefined)) {
      if (seen.goodCreate === undefined && stubs.calls().includes('127.0.0.2 pvecm create good'))
        seen.goodCreate = Date.now();
      const error = seen.stuckFailed === undefined ? await stuckError() : null;
      if (error) Object.assign(seen, { stuckFailed: Date.now(), error });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(seen.error).to.match(new RegExp(`${HANGING_IP}.*no SSH session within ${TIMEOUT_MS} ms`));
    expect(hanging.accepted() - before, 'the read-only check was retried (ssh.retries = 2)').to.be.at.least(2);
    expect(seen.goodCreate, "good's pvecm create ran").to.be.a('number');
    expect(seen.goodCreate!, "good's formation ran while stuck's still waited on the hang").to.be.below(
      seen.stuckFailed!,
    );
    const good = await waitForState(h, 'good', 'formed');
    expect(good).to.equal('formed');
  });
});

async function waitForState(h: Harness, cluster: string, wanted: string): Promise<string | undefined> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const state = (await h.rp.clusters.overview()).find((c) => c.name === cluster)?.state;
    if (state === wanted || Date.now() > deadline) return state;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
