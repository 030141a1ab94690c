import { normalizeMac } from './mac';

/**
 * How people name a node: a numeric id, a MAC in any accepted spelling, or
 * else a hostname. One parser for the API, the status page, the CLI and
 * reprovision targets.
 */
export type NodeRef = { kind: 'id'; id: number } | { kind: 'mac'; mac: string } | { kind: 'hostname'; hostname: string };

export function parseNodeRef(ref: string): NodeRef {
  if (/^\d{1,10}$/.test(ref)) return { kind: 'id', id: Number(ref) };
  const mac = normalizeMac(ref);
  if (mac) return { kind: 'mac', mac };
  return { kind: 'hostname', hostname: ref.toLowerCase() };
}

/** How a node is named to people: its hostname, else its MAC. */
export const nodeLabel = (node: { hostname: string | null; mac: string }): string => node.hostname ?? node.mac;
