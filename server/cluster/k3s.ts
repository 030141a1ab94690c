import type { ClusterSettings } from './config.js';
import {
  FormationError,
  RemoteSteps,
  shellQuote,
  type ClusterDriver,
  type DriverDeps,
  type FormContext,
  type FormResult,
} from './driver.js';
import type { ClusterMember } from './plan.js';

const K3S_API_PORT = 6443;

/**
 * k3s: the first node installs a server with `--cluster-init` (embedded
 * etcd), its join token is read over SSH, the others join it as servers or
 * agents, and `k3s kubectl get nodes` on the first node must list every
 * member Ready. Before each install the first node's node list is read, so a
 * rerun skips what is already there. The token reaches joining nodes on
 * stdin (never on a command line) and is masked in every log and error.
 */
export function k3sDriver(deps: DriverDeps, settings: ClusterSettings): ClusterDriver {
  return {
    name: 'k3s',
    // k3s is installed by formation itself, so before it there is no service port to check.
    readinessPorts: settings.readinessPorts ?? [],
    form: (ctx) => formK3s(new RemoteSteps(deps, settings, ctx.signal), settings, ctx),
  };
}

async function formK3s(steps: RemoteSteps, settings: ClusterSettings, ctx: FormContext): Promise<FormResult> {
  const [first, ...others] = ctx.members;
  if (!first) throw new FormationError('plan', 'no members');
  const { installCommand, tokenFile, joinAs } = settings.k3s;
  const done: string[] = [];
  const total = ctx.members.length + 2;

  await ctx.progress(`server on ${first.hostname}`, 0);
  let listed = await nodeList(steps, first);
  if (listed) done.push(`${first.hostname}: k3s server already running`);
  else {
    await steps.change(first.ip, `${installCommand} server --cluster-init --node-name ${shellQuote(first.hostname)}`);
    done.push(`${first.hostname}: installed k3s server --cluster-init`);
    listed = await steps.waitFor('server', async () => {
      const nodes = await nodeList(steps, first);
      return { value: nodes, reason: `k3s API on ${first.hostname} does not answer yet` };
    });
  }

  await ctx.progress('token', Math.round((1 / total) * 100));
  const token = (await steps.read(first.ip, `cat ${shellQuote(tokenFile)}`)).stdout.trim();
  if (!token) throw new FormationError('token', `${tokenFile} on ${first.hostname} is empty`);
  const server = `https://${first.ip}:${K3S_API_PORT}`;

  for (const [i, node] of others.entries()) {
    await ctx.progress(`join ${node.hostname}`, Math.round(((i + 2) / total) * 100));
    if (listed.has(node.hostname)) {
      done.push(`${node.hostname}: already a member`);
      continue;
    }
    const join = `read -r K3S_TOKEN && export K3S_TOKEN && ${installCommand} ${joinAs} --server ${shellQuote(server)} --node-name ${shellQuote(node.hostname)}`;
    await steps.change(node.ip, join, { stdin: `${token}\n`, secrets: [token] });
    done.push(`${node.hostname}: joined as ${joinAs}`);
  }

  await ctx.progress('verify', Math.round(((total - 1) / total) * 100));
  await steps.waitFor('verify', async () => {
    const ready = await readyNodes(steps, first);
    const missing = ctx.members.filter((m) => !ready.has(m.hostname)).map((m) => m.hostname);
    return {
      value: missing.length === 0 ? true : null,
      reason: `not Ready on ${first.hostname}: ${missing.join(', ')}`,
    };
  });
  done.push(`verified: ${ctx.members.length} nodes Ready`);
  return { steps: done };
}

/** `k3s kubectl get nodes --no-headers` rows as name -> status; null while no server answers. */
async function nodeRows(steps: RemoteSteps, node: ClusterMember): Promise<Map<string, string> | null> {
  const result = await steps.check(node.ip, 'k3s kubectl get nodes --no-headers');
  if (result.code !== 0) return null;
  const rows = new Map<string, string>();
  for (const line of result.stdout.split('\n')) {
    const [name, status] = line.trim().split(/\s+/);
    if (name && status) rows.set(name, status);
  }
  return rows;
}

async function nodeList(steps: RemoteSteps, node: ClusterMember): Promise<Set<string> | null> {
  const rows = await nodeRows(steps, node);
  return rows ? new Set(rows.keys()) : null;
}

async function readyNodes(steps: RemoteSteps, node: ClusterMember): Promise<Set<string>> {
  const rows = (await nodeRows(steps, node)) ?? new Map<string, string>();
  return new Set([...rows].filter(([, status]) => status === 'Ready').map(([name]) => name));
}
