import { openRound } from '../auth/rounds.js';
import { describeAmbiguity, nodeLabel, parseNodeRef } from '../nodes/ref.js';
import type { Node, NodeChanges } from '../store/nodes-repo.js';

/**
 * Which nodes a reprovision request means and what it changes on them
 * (pure). Seed 000: --all is every configured node; --nodes names them.
 */
export type ReprovisionTargets = { all: true } | { refs: readonly string[] } | { cluster: string };

/**
 * `all` and `cluster`: every (such) node except `discovered` ones (machines homeport saw but nobody configured).
 * A hostname two nodes share is ambiguous: restarting the older one could be the wrong machine.
 */
export function selectTargets(
  nodes: readonly Node[],
  targets: ReprovisionTargets,
): { selected: Node[]; unknown: string[]; ambiguous: string[] } {
  const configured = nodes.filter((n) => n.status !== 'discovered');
  if ('all' in targets) return { selected: configured, unknown: [], ambiguous: [] };
  if ('cluster' in targets)
    return { selected: configured.filter((n) => n.cluster === targets.cluster), unknown: [], ambiguous: [] };
  const selected = new Map<number, Node>();
  const unknown: string[] = [];
  const ambiguous: string[] = [];
  for (const ref of targets.refs) {
    const matches = matchRef(nodes, ref);
    if (matches.length === 1) selected.set(matches[0]!.id, matches[0]!);
    else if (matches.length === 0) unknown.push(ref);
    else ambiguous.push(describeAmbiguity(ref, matches));
  }
  return { selected: [...selected.values()], unknown, ambiguous };
}

/** The nodes a name matches: by id, MAC (any accepted spelling) or hostname (case-insensitive; several may share one). */
export function matchRef(nodes: readonly Node[], ref: string): Node[] {
  const parsed = parseNodeRef(ref);
  if (parsed.kind === 'id') return nodes.filter((n) => n.id === parsed.id);
  if (parsed.kind === 'mac') return nodes.filter((n) => n.mac === parsed.mac);
  return nodes.filter((n) => n.hostname?.toLowerCase() === parsed.hostname);
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
    // A new install round: every token of the last one dies here.
    ...openRound(now),
    ...(node.status === 'post-install-complete' ? { status: 'registered' } : {}),
  };
}

/**
 * Rolling reprovision: batches of at most `maxUnavailable` nodes, by name,
 * so at most that many are out of service at once.
 */
export function rollingBatches(nodes: readonly Node[], maxUnavailable: number): Node[][] {
  const sorted = [...nodes].sort((a, b) => nodeLabel(a).localeCompare(nodeLabel(b)));
  const batches: Node[][] = [];
  for (let i = 0; i < sorted.length; i += maxUnavailable) batches.push(sorted.slice(i, i + maxUnavailable));
  return batches;
}

export type BatchState =
  | { state: 'done' }
  | { state: 'failed'; reason: string; failed: Node[] }
  | { state: 'waiting'; reason: string; percent: number };

/**
 * Whether a batch is back (pure): every node completed, and clustered again
 * when its cluster is formed by a driver (the driver verified it rejoined);
 * failed when a node timed out, errored or reported a failed phase.
 */
export function batchState(nodes: readonly Node[], inFormedCluster: (node: Node) => boolean): BatchState {
  const failed = nodes.filter(
    (n) =>
      n.reprovisionStatus === 'timeout' ||
      n.reprovisionStatus === 'error' ||
      (n.reprovisionStatus === 'in_progress' && n.deploymentPhaseStatus === 'failed'),
  );
  if (failed.length)
    return {
      state: 'failed',
      failed,
      reason: failed
        .map(
          (n) =>
            `${nodeLabel(n)} is ${n.reprovisionStatus === 'in_progress' ? `failed in ${n.deploymentStatus}` : n.reprovisionStatus}`,
        )
        .join(', '),
    };
  const back = (n: Node) =>
    n.reprovisionStatus === 'clustered' || (n.reprovisionStatus === 'completed' && !inFormedCluster(n));
  const waiting = nodes.filter((n) => !back(n));
  if (waiting.length === 0) return { state: 'done' };
  const reason = `waiting for ${waiting.map((n) => `${nodeLabel(n)} (${n.reprovisionStatus === 'completed' ? 'rejoining its cluster' : n.deploymentStatus})`).join(', ')}`;
  return { state: 'waiting', reason, percent: Math.round((100 * (nodes.length - waiting.length)) / nodes.length) };
}
