import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServerProcess, type ServerProcess } from '../helpers/cli.js';
import { DATABASE_KINDS } from '../helpers/databases.js';
import { installNodeStubs, type NodeStubs } from '../helpers/node-stubs.js';
import { createTestDatabase } from '../helpers/postgres.js';
import { adminFields, roundTokenFor } from '../helpers/round-token.js';
import { runClient, simulateInstall, type SimulatedNode } from '../helpers/simulated-node.js';
import { sshEnv } from '../helpers/ssh-fixture.js';
import { startTestSshd, type TestSshd } from '../helpers/sshd.js';

const NODES: SimulatedNode[] = [
  { mac: '52:54:00:cc:00:01', hostname: 'pve1', ip: '127.0.0.2', cluster: 'lab' },
  { mac: '52:54:00:cc:00:02', hostname: 'pve2', ip: '127.0.0.3', cluster: 'lab' },
  { mac: '52:54:00:cc:00:03', hostname: 'pve3', ip: '127.0.0.4', cluster: 'lab' },
];

/**
 * Wraps the pvecm stub: `pvecm add` first waits for a gate file, before it
 * does or records anything, which holds the formation between the first
 * node's `pvecm create` and the joins. While waiting it writes to the SSH
 * channel, so when homeport dies and the session closes, the write fails and
 * the waiting add ends there, having done nothing (as a real join that never
 * started).
 */
function gatePvecmAdd(binDir: string, gate: string, waiting: string): void {
  fs.mkdirSync(waiting, { recursive: true });
  fs.renameSync(path.join(binDir, 'pvecm'), path.join(binDir, 'pvecm.stub'));
  fs.writeFileSync(
    path.join(binDir, 'pvecm'),
    `#!/bin/sh
# Test gate around the pvecm stub; see gatePvecmAdd in test/reliability/formation-crash.test.ts.
if [ "$1" = add ]; then
  node=$(echo "$SSH_CONNECTION" | cut -d' ' -f3)
  echo $$ > ${waiting}/$node
  while [ ! -f ${gate} ]; do echo waiting >&2 || exit 1; sleep 0.1; done
  rm -f ${waiting}/$node
fi
exec ${path.join(binDir, 'pvecm.stub')} "$@"
`,
    { mode: 0o755 },
  );
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | null> | T | null): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

for (const kind of DATABASE_KINDS) {
  const takeover = kind === 'sqlite' ? 'a restart on the same data' : 'a second instance on the same PostgreSQL';
  describe(`watcher crash mid-formation (${kind}): kill -9 after pvecm create, before the joins; ${takeover} finishes`, function () {
    this.timeout(180_000);
    let sshd: TestSshd;
    let stubs: NodeStubs;
    let dir: string;
    const servers: ServerProcess[] = [];

    before(async () => {
      sshd = await startTestSshd();
      stubs = installNodeStubs(sshd.binDir);
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'homeport-formation-crash-'));
      gatePvecmAdd(sshd.binDir, path.join(dir, 'gate'), path.join(dir, 'waiting'));
    });
    after(async () => {
      for (const server of servers) await server.stop('SIGKILL');
      await sshd?.dispose();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('pvecm create runs once in all, each pvecm add once, and the cluster is formed', async () => {
      const database: Record<string, string> = kind === 'postgres' ? { DATABASE_URL: await createTestDatabase() } : {};
      const env = (dataDir: string): NodeJS.ProcessEnv => ({
        ...sshEnv(sshd),
        ...database,
        HOMEPORT_DATADIR: dataDir,
        HOMEPORT_CONFIG: '',
        HOMEPORT_LOG__LEVEL: 'warn',
        HOMEPORT_REPROVISION__METHOD: 'none',
        // Ticks every second; leases short enough that a dead leader's are reclaimed within seconds.
        HOMEPORT_WATCHER__SCHEDULE: '* * * * * *',
        HOMEPORT_WATCHER__LEASEMS: '3000',
        HOMEPORT_WATCHER__JOBLEASEMS: '3000',
        HOMEPORT_WATCHER__SSHTIMEOUTMS: '20000',
        HOMEPORT_CLUSTERS: JSON.stringify({ lab: { driver: 'proxmox', expectedNodes: 3, readinessPorts: [] } }),
      });
      const dataA = path.join(dir, 'a');
      fs.mkdirSync(dataA);
      const a = await startServerProcess(env(dataA));
      servers.push(a);
      const admin = (dataDir: string) => ({
        authorization: `Bearer ${fs.readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim()}`,
      });

      const adminA = fs.readFileSync(path.join(dataA, 'admin.token'), 'utf8').trim();
      for (const node of NODES)
        await runClient(
          a.baseUrl,
          await roundTokenFor(a.baseUrl, adminA, node.mac, adminFields(node)),
          node,
          'homeport-register',
          [],
        );
      const started = await fetch(`${a.baseUrl}/api/reprovision`, {
        method: 'POST',
        headers: { ...admin(dataA), 'content-type': 'application/json' },
        body: JSON.stringify({ all: true }),
      });
      expect(started.status, await started.text()).to.equal(202);
      for (const node of NODES)
        await simulateInstall(a.baseUrl, await roundTokenFor(a.baseUrl, adminA, node.mac), node);

      // The watcher (tick every second) finds the nodes ready, queues the formation; the job creates on pve1, then waits in pve2's add.
      const waiting = path.join(dir, 'waiting', '127.0.0.3');
      const gatedPid = await waitFor('pvecm add on pve2 to start', 60_000, () =>
        fs.existsSync(waiting) ? Number(fs.readFileSync(waiting, 'utf8').trim()) || null : null,
      );
      expect(stubs.calls().filter((c) => / pvecm (create|add)/.test(c))).to.deep.equal(['127.0.0.2 pvecm create lab']);

      a.child.kill('SIGKILL');
      await a.stop();
      await waitFor('the orphaned pvecm add to end with its session', 10_000, () => (alive(gatedPid) ? null : true));
      fs.writeFileSync(path.join(dir, 'gate'), '');

      // SQLite: the same data directory again. PostgreSQL: another instance (own data dir, same database and secret).
      const dataB = kind === 'sqlite' ? dataA : path.join(dir, 'b');
      if (kind === 'postgres') fs.mkdirSync(dataB);
      const b = await startServerProcess({ ...env(dataB), HOMEPORT_AUTH__SECRETFILE: path.join(dataA, 'secret') });
      servers.push(b);
      const cluster = await waitFor('the cluster to be formed', 90_000, async () => {
        const body = (await (await fetch(`${b.baseUrl}/api/clusters/lab`, { headers: admin(dataB) })).json()) as {
          state: string;
          last_job?: { attempts?: number; status?: string };
        };
        return body.state === 'formed' ? body : null;
      });
      expect(cluster.state).to.equal('formed');

      const changes = stubs.calls().filter((c) => / pvecm (create|add)/.test(c));
      expect(changes.sort()).to.deep.equal([
        '127.0.0.2 pvecm create lab',
        '127.0.0.3 pvecm add 127.0.0.2 --use_ssh',
        '127.0.0.4 pvecm add 127.0.0.2 --use_ssh',
      ]);
      const nodes = (await (await fetch(`${b.baseUrl}/api/nodes`, { headers: admin(dataB) })).json()) as {
        nodes: { hostname: string; reprovision_status: string }[];
      };
      expect(nodes.nodes.map((n) => `${n.hostname}=${n.reprovision_status}`)).to.deep.equal([
        'pve1=clustered',
        'pve2=clustered',
        'pve3=clustered',
      ]);
      console.log(
        `      ${kind}: leader killed between create and joins; ${takeover} formed the cluster: ${changes.length} changing pvecm calls (create 1, add 2)`,
      );
    });
  });
}
