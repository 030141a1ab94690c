import type { Node } from '../store/nodes-repo.js';

/**
 * The address homeport connects to (SSH, readiness, cluster formation): the
 * one an admin set, else the one homeport itself saw the node's bound calls
 * come from (or leased it). Never what the installer reported about itself:
 * a caller cannot point homeport's SSH, and the secrets it sends, elsewhere.
 */
export function nodeAddress(node: Pick<Node, 'ip' | 'observedIp'>): string | null {
  return node.ip ?? node.observedIp;
}

/** The reported address differs from the one homeport uses: shown on the node, never followed. */
export function addressMismatch(node: Pick<Node, 'ip' | 'observedIp' | 'reportedIp'>): string | null {
  const address = nodeAddress(node);
  if (!node.reportedIp || !address || node.reportedIp === address) return null;
  return `the installer reported ${node.reportedIp}; homeport uses ${address}`;
}
