import { conflict, notFound, ValidationError } from '../kernel/errors.js';
import type { Node, NodesRepo } from '../store/nodes-repo.js';
import { AMBIGUITY_LIMIT, describeAmbiguity, parseNodeRef } from './ref.js';
import { hostnameField } from './validation.js';

/**
 * The one node a person named by id, MAC or hostname, wherever a node is named
 * (API paths and queries, the status page, the CLI). A hostname is not unique
 * in the schema: two nodes may share one, and then the name is ambiguous
 * rather than silently the older node.
 */
export type NodeLookup =
  { kind: 'found'; node: Node } | { kind: 'missing' } | { kind: 'ambiguous'; nodes: Node[] } | { kind: 'invalid' };

export async function lookupNode(nodes: NodesRepo, ref: string): Promise<NodeLookup> {
  const parsed = parseNodeRef(ref);
  if (parsed.kind !== 'hostname') return found(await nodes.byRef(parsed));
  if (!hostnameField.safeParse(parsed.hostname).success) return { kind: 'invalid' };
  const named = await nodes.allByHostname(parsed.hostname, AMBIGUITY_LIMIT);
  return named.length > 1 ? { kind: 'ambiguous', nodes: named } : found(named[0] ?? null);
}

const found = (node: Node | null): NodeLookup => (node ? { kind: 'found', node } : { kind: 'missing' });

export const NODE_REF_RULE = 'must be a node id, a MAC address or a hostname';

/** For the API: the node, or the 400, 404 or 409 that says why not. `field` names the parameter. */
export async function resolveNodeRef(nodes: NodesRepo, ref: string, field = 'id'): Promise<Node> {
  const lookup = await lookupNode(nodes, ref);
  switch (lookup.kind) {
    case 'found':
      return lookup.node;
    case 'invalid':
      throw new ValidationError(field, NODE_REF_RULE);
    case 'missing':
      throw notFound(`no node ${ref}`);
    case 'ambiguous':
      throw conflict(describeAmbiguity(ref, lookup.nodes));
  }
}
