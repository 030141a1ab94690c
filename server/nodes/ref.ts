import type { NodeKey } from '../store/nodes-repo.js';
import { normalizeMac } from './mac.js';

/**
 * How people name a node: a numeric id, a MAC in any accepted spelling, or
 * else a hostname. One parser for the API, the status page, the CLI and
 * reprovision targets.
 */
export type NodeRef = NodeKey;

export function parseNodeRef(ref: string): NodeRef {
  if (/^\d{1,10}$/.test(ref)) return { kind: 'id', id: Number(ref) };
  const mac = normalizeMac(ref);
  if (mac) return { kind: 'mac', mac };
  return { kind: 'hostname', hostname: ref.toLowerCase() };
}

/** How a node is named to people: its hostname, else its MAC. */
export const nodeLabel = (node: { hostname: string | null; mac: string }): string => node.hostname ?? node.mac;

/** How many same-named nodes an ambiguity lists: enough to pick from, bounded. */
export const AMBIGUITY_LIMIT = 10;

/** `pve1 names 2 nodes: 3 (52:54:00:00:00:01), 7 (52:54:00:00:00:02); name one by its id or MAC`. */
export function describeAmbiguity(ref: string, matches: readonly { id: number; mac: string }[]): string {
  const listed = matches
    .slice(0, AMBIGUITY_LIMIT)
    .map((n) => `${n.id} (${n.mac})`)
    .join(', ');
  const count = matches.length >= AMBIGUITY_LIMIT ? `at least ${AMBIGUITY_LIMIT}` : String(matches.length);
  return `${ref} names ${count} nodes: ${listed}; name one by its id or MAC`;
}
