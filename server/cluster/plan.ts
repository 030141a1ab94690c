import { nodeAddress } from '../nodes/address.js';
import { nodeLabel as label } from '../nodes/ref.js';
import type { Node } from '../store/nodes-repo.js';

/**
 * When a cluster may be formed, and with which nodes in which order (pure).
 * Seed 000: formation starts only when ALL nodes of the cluster are done.
 */
export interface ClusterMember {
  id: number;
  mac: string;
  hostname: string;
  ip: string;
  /** Already in the cluster from an earlier round. */
  clustered: boolean;
}

export type ClusterVerdict =
  | { form: true; round: number; members: ClusterMember[]; joining: number[] }
  | { form: false; reason: string; blocked: boolean };

export function clusterVerdict(nodes: readonly Node[], expectedNodes: number | null | undefined): ClusterVerdict {
  if (nodes.length === 0) return { form: false, reason: 'no nodes in this cluster', blocked: false };
  if (expectedNodes && nodes.length < expectedNodes)
    return { form: false, reason: `${nodes.length} of ${expectedNodes} expected nodes registered`, blocked: false };
  const failed = nodes.filter((n) => n.reprovisionStatus === 'timeout' || n.reprovisionStatus === 'error');
  if (failed.length)
    return {
      form: false,
      reason: `not formed: ${failed.map((n) => `${label(n)} is ${n.reprovisionStatus}`).join(', ')}`,
      blocked: true,
    };
  const pending = nodes.filter((n) => n.reprovisionStatus === 'in_progress' || n.reprovisionStatus === null);
  if (pending.length)
    return {
      form: false,
      reason: `waiting for ${pending.map((n) => `${label(n)} (${n.reprovisionStatus ?? 'not reprovisioned'})`).join(', ')}`,
      blocked: false,
    };
  const joining = nodes.filter((n) => n.reprovisionStatus === 'completed');
  if (joining.length === 0) return { form: false, reason: 'formed: every node is clustered', blocked: false };
  const noIp = nodes.filter((n) => !nodeAddress(n));
  if (noIp.length) return { form: false, reason: `no IP address for ${noIp.map(label).join(', ')}`, blocked: true };
  return { form: true, round: formationRound(nodes), members: orderMembers(nodes), joining: joining.map((n) => n.id) };
}

/** A reprovision round is named by its newest start: a new reprovision is a new round, re-checking one is not. */
export function formationRound(nodes: readonly Node[]): number {
  return Math.max(0, ...nodes.map((n) => n.reprovisionStarted ?? 0));
}

/**
 * The first member creates the cluster, the rest join it. A member already
 * clustered goes first (it holds the existing cluster); otherwise by name,
 * so a rerun picks the same first node.
 */
export function orderMembers(nodes: readonly Node[]): ClusterMember[] {
  const byName = (a: Node, b: Node) => (label(a) < label(b) ? -1 : label(a) > label(b) ? 1 : 0);
  const clustered = nodes.filter((n) => n.reprovisionStatus === 'clustered').sort(byName);
  const rest = nodes.filter((n) => n.reprovisionStatus !== 'clustered').sort(byName);
  return [...clustered, ...rest].map((n) => ({
    id: n.id,
    mac: n.mac,
    hostname: label(n),
    ip: nodeAddress(n) ?? '',
    clustered: n.reprovisionStatus === 'clustered',
  }));
}

/** One formation per cluster and round; a retry after a failed job gets its own key. */
export function formationKey(cluster: string, round: number, afterJobId?: number): string {
  return `form_cluster:${cluster}:${round}${afterJobId ? `:after-${afterJobId}` : ''}`;
}
