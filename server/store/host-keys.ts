import type { Knex } from 'knex';
import { keyFingerprint, type HostKey, type PinnedHost } from '../ssh/host-keys.js';

/**
 * A node's pinned SSH host keys (table node_host_keys, migration 005).
 * Plain functions on knex, independent of NodesRepo, so the register route
 * and the SSH client share them without going through the node service.
 */

/** What a register call's keys did: pinned (first of the round), unchanged (the same again), kept (other keys in the same round: refused). */
export type PinOutcome = 'pinned' | 'unchanged' | 'kept';

interface KeyRow {
  key_type: string;
  key: string;
  round: string;
}

/**
 * Pins the keys a node's install reported. Within one round the first keys
 * stay: a second caller with the node's token cannot swap in its own key
 * (trust on first use). A new round replaces them: a reinstall has new keys.
 */
export async function saveHostKeys(
  knex: Knex,
  nodeId: number,
  keys: readonly HostKey[],
  round: string,
  now: number,
): Promise<PinOutcome> {
  return knex.transaction(async (trx) => {
    const existing: KeyRow[] = await trx('node_host_keys')
      .where({ node_id: nodeId })
      .select('key_type', 'key', 'round');
    if (existing.length > 0 && existing[0]!.round === round) return sameKeys(existing, keys) ? 'unchanged' : 'kept';
    await trx('node_host_keys').where({ node_id: nodeId }).delete();
    const rows = unique(keys).map((k) => ({
      node_id: nodeId,
      key_type: k.type,
      key: k.key,
      fingerprint: keyFingerprint(k),
      round,
      pinned_at: now,
    }));
    if (rows.length) await trx('node_host_keys').insert(rows);
    return 'pinned';
  });
}

/** The keys pinned for a node (none when its install sent none). */
export async function hostKeysFor(knex: Knex, nodeId: number): Promise<HostKey[]> {
  const rows: KeyRow[] = await knex('node_host_keys')
    .where({ node_id: nodeId })
    .orderBy('id')
    .select('key_type', 'key', 'round');
  return rows.map(toKey);
}

/** Forgets a node's keys (an admin's reset; the next install round pins again). */
export async function clearHostKeys(knex: Knex, nodeId: number): Promise<number> {
  return knex('node_host_keys').where({ node_id: nodeId }).delete();
}

/**
 * The node homeport means when it connects to `address`, with its keys. The
 * SSH client asks this right before connecting; several nodes on one address
 * is ambiguous and refused, never "the most recent one wins".
 */
export async function pinnedHostAt(knex: Knex, address: string): Promise<PinnedHost> {
  // The address homeport connects to (nodes/address.ts): the admin's ip, else the one its round was seen at.
  const nodes: { id: number; mac: string; hostname: string | null }[] = await knex('nodes')
    .where({ ip: address })
    .orWhere((q) => q.whereNull('ip').andWhere({ observed_ip: address }))
    .orderBy('id')
    .limit(5)
    .select('id', 'mac', 'hostname');
  if (nodes.length === 0) return { kind: 'none' };
  const names = nodes.map((n) => `node ${n.id} (${n.hostname ? `${n.hostname}, ` : ''}${n.mac})`);
  if (nodes.length > 1) return { kind: 'ambiguous', nodes: names };
  return { kind: 'node', node: names[0]!, keys: await hostKeysFor(knex, Number(nodes[0]!.id)) };
}

/**
 * The install round a register call belongs to, named by when it opened (the
 * round's nonce is a secret and stays on the node row); a node from before
 * rounds existed falls back to its creation.
 */
export function installRoundOf(node: { registeredAt: number; roundOpenedAt: number | null }): string {
  return node.roundOpenedAt !== null ? `round:${node.roundOpenedAt}` : `registered:${node.registeredAt}`;
}

/**
 * Nodes homeport would SSH to (an admin's ip or a seen address) with no
 * pinned key: under ssh.hostKeys pinned they fall back to known_hosts, e.g.
 * after an upgrade, until their next install sends keys. Up to `limit` names.
 */
export async function unpinnedNodes(knex: Knex, limit = 10): Promise<{ total: number; names: string[] }> {
  const query = () =>
    knex('nodes')
      .where((q) => q.whereNotNull('ip').orWhereNotNull('observed_ip'))
      .whereNotExists(knex('node_host_keys').whereRaw('node_host_keys.node_id = nodes.id').select(knex.raw('1')));
  const [{ n }] = (await query().count({ n: '*' })) as [{ n: number | string }];
  const rows: { mac: string; hostname: string | null }[] = await query()
    .orderBy('id')
    .limit(limit)
    .select('mac', 'hostname');
  return { total: Number(n), names: rows.map((r) => r.hostname ?? r.mac) };
}

function toKey(row: KeyRow): HostKey {
  return { type: row.key_type, key: row.key };
}

function unique(keys: readonly HostKey[]): HostKey[] {
  return keys.filter((k, i) => keys.findIndex((o) => o.key === k.key) === i);
}

function sameKeys(rows: readonly KeyRow[], keys: readonly HostKey[]): boolean {
  const stored = new Set(rows.map((r) => r.key));
  const given = new Set(keys.map((k) => k.key));
  return stored.size === given.size && [...given].every((k) => stored.has(k));
}
