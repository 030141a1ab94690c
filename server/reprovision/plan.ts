import { parseNodeRef } from '../nodes/ref';
import type { Node, NodeChanges } from '../store/nodes-repo';

/**
 * Which nodes a reprovision request means and what it changes on them
 * (pure). Seed 000: --all is every configured node; --nodes names them.
 */
export type ReprovisionTargets = { all: true } | { refs: readonly string[] };

/** `all`: every node except `discovered` ones (machines homeport saw but nobody configured). */
export function selectTargets(nodes: readonly Node[], targets: ReprovisionTargets): { selected: Node[]; unknown: string[] } {
  if ('all' in targets) return { selected: nodes.filter((n) => n.status !== 'discovered'), unknown: [] };
  const selected = new Map<number, Node>();
  const unknown: string[] = [];
  for (const ref of targets.refs) {
    const node = findByRef(nodes, ref);
    if (node) selected.set(node.id, node);
    else unknown.push(ref);
  }
  return { selected: [...selected.values()], unknown };
}

/** A node by id, MAC (any accepted spelling) or hostname (case-insensitive). */
export function findByRef(nodes: readonly Node[], ref: string): Node | undefined {
  const parsed = parseNodeRef(ref);
  if (parsed.kind === 'id') return nodes.find((n) => n.id === parsed.id);
  if (parsed.kind === 'mac') return nodes.find((n) => n.mac === parsed.mac);
  return nodes.find((n) => n.hostname?.toLowerCase() === parsed.hostname);
}

/**
 * A new round: in_progress from now with its timeout, netboot on so the
 * machine installs again, install phases back to pending. A
 * post-install-complete left from the last round must not count for this one.
 */
export function reprovisionChanges(node: Node, now: number, timeoutMin: number): NodeChanges {
  return {
    reprovisionStatus: 'in_progress',
    reprovisionStarted: now,
    reprovisionTimeoutMin: timeoutMin,
    netbootEnabled: true,
    deploymentStatus: 'pending',
    deploymentPhaseStatus: null,
    progress: null,
    phaseStartedAt: now,
    ...(node.status === 'post-install-complete' ? { status: 'registered' } : {}),
  };
}
