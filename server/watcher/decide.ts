import type { Node } from '../store/nodes-repo.js';

/**
 * What the watcher does with one in_progress node (pure). Seed 000: a node
 * that reported its install complete and passes the readiness check becomes
 * `completed`; one still not there after its timeout becomes `timeout`.
 */
export type NodeVerdict =
  { action: 'check_ready'; overdue: boolean } | { action: 'timeout'; minutes: number } | { action: 'wait' };

export function reprovisionDeadline(node: Node, defaultTimeoutMin: number): number | null {
  if (node.reprovisionStarted === null) return null;
  return node.reprovisionStarted + (node.reprovisionTimeoutMin ?? defaultTimeoutMin) * 60_000;
}

/**
 * `installed`: the node reported `deployed` (or registered
 * post-install-complete) since its reprovision started; the start reset both.
 */
export function decideNode(node: Node, installed: boolean, now: number, defaultTimeoutMin: number): NodeVerdict {
  const deadline = reprovisionDeadline(node, defaultTimeoutMin);
  const overdue = deadline !== null && now > deadline;
  // A node that finished installing gets its readiness check even when late: it is done, only slow.
  if (installed) return { action: 'check_ready', overdue };
  if (overdue) return { action: 'timeout', minutes: node.reprovisionTimeoutMin ?? defaultTimeoutMin };
  return { action: 'wait' };
}
