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

/** Proxmox VE's web UI and API port: a node is ready when it accepts here. */
export const PROXMOX_API_PORT = 8006;

/**
 * Proxmox VE: `pvecm create NAME` on the first node, `pvecm add FIRST_IP
 * --use_ssh` on each other node (pvecm(1): join over SSH instead of the API,
 * which would prompt for the first node's root password; the joining node
 * needs root SSH access to the first one), then `pvecm status` on the first
 * node must show every member and quorum. Each node's membership is checked
 * with `pvecm status` before anything is changed, so a rerun only does what
 * is missing.
 */
export function proxmoxDriver(deps: DriverDeps, settings: ClusterSettings): ClusterDriver {
  return {
    name: 'proxmox',
    readinessPorts: settings.readinessPorts ?? [PROXMOX_API_PORT],
    form: (ctx) => formProxmox(new RemoteSteps(deps, settings, ctx.signal), ctx),
  };
}

async function formProxmox(steps: RemoteSteps, ctx: FormContext): Promise<FormResult> {
  const [first, ...others] = ctx.members;
  if (!first) throw new FormationError('plan', 'no members');
  const done: string[] = [];
  const total = ctx.members.length + 1;

  await ctx.progress(`create on ${first.hostname}`, 0);
  const firstCluster = await clusterOf(steps, first);
  if (firstCluster === ctx.cluster) done.push(`${first.hostname}: already holds cluster ${ctx.cluster}`);
  else if (firstCluster !== null)
    throw new FormationError('create', `${first.hostname} is already in another cluster (${firstCluster})`);
  else {
    await steps.change(first.ip, `pvecm create ${shellQuote(ctx.cluster)}`);
    done.push(`${first.hostname}: pvecm create ${ctx.cluster}`);
  }

  for (const [i, node] of others.entries()) {
    await ctx.progress(`join ${node.hostname}`, Math.round(((i + 1) / total) * 100));
    const current = await clusterOf(steps, node);
    if (current === ctx.cluster) {
      done.push(`${node.hostname}: already a member`);
      continue;
    }
    if (current !== null)
      throw new FormationError('join', `${node.hostname} is already in another cluster (${current})`);
    await steps.change(node.ip, `pvecm add ${shellQuote(first.ip)} --use_ssh`);
    done.push(`${node.hostname}: pvecm add ${first.ip} --use_ssh`);
  }

  await ctx.progress('verify', Math.round((ctx.members.length / total) * 100));
  const members = await steps.waitFor('verify', async () => {
    const status = await steps.check(first.ip, 'pvecm status');
    const nodes = Number(/^Nodes:\s+(\d+)/m.exec(status.stdout)?.[1] ?? 0);
    const quorate = /^Quorate:\s+Yes/m.test(status.stdout);
    const ok = status.code === 0 && quorate && nodes >= ctx.members.length;
    return {
      value: ok ? nodes : null,
      reason: `pvecm status on ${first.hostname}: ${nodes} of ${ctx.members.length} nodes, quorate ${quorate ? 'yes' : 'no'}`,
    };
  });
  done.push(`verified: ${members} nodes, quorate`);
  return { steps: done };
}

/** The cluster a node is in (`Name:` of `pvecm status`), or null when it is in none. */
async function clusterOf(steps: RemoteSteps, node: ClusterMember): Promise<string | null> {
  const status = await steps.check(node.ip, 'pvecm status');
  if (status.code === 0) return /^Name:\s+(\S+)/m.exec(status.stdout)?.[1] ?? null;
  // pvecm status on a node outside any cluster: "Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?"
  if (/corosync\.conf.*does not exist|not part of a cluster/i.test(status.stderr + status.stdout)) return null;
  throw new FormationError(
    'status',
    `pvecm status on ${node.hostname} exited ${status.code ?? 'without status'}: ${(status.stderr || status.stdout).trim().split('\n').pop() ?? ''}`,
  );
}
