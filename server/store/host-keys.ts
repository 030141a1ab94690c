import type { Knex } from 'knex';

/** An SSH host public key: its type and base64 blob, as in a .pub line (server/ssh/host-keys.ts parses them). */
export interface HostKey {
  type: string;
  key: string;
}

/** A key to pin, with its OpenSSH fingerprint (computed by the caller, kept for people reading the table). */
export interface FingerprintedKey extends HostKey {
  fingerprint: string;
}

/** What homeport knows about the machine at an address it is about to connect to. */
export type PinnedHost =
  | { kind: 'node'; node: string; keys: HostKey[] }
  /** No node has this address. */
  | { kind: 'none' }
  /** Several nodes claim it: which keys to expect is unknown. */
  | { kind: 'ambiguous'; nodes: string[] };

/** What a register call's keys did: pinned (first of the round), unchanged (the same again), kept (other keys in the same round: refused). */
export type PinOutcome = 'pinned' | 'unchanged' | 'kept';

interface KeyRow {
  key_type: string;
  key: string;
  round: string;
}

/**
 * A node's pinned SSH host keys (table node_host_keys, migration 005),
 * independent of NodesRepo, so the register route and the SSH client share
 * them without going through the node service.
 */
export class HostKeysRepo {
  constructor(private readonly knex: Knex) {}

  /**
   * Pins the keys a node's install reported. Within one round the first keys
   * stay: a second caller with the node's token cannot swap in its own key
   * (trust on first use). A new round replaces them: a reinstall has new keys.
   */
  async save(nodeId: number, keys: readonly FingerprintedKey[], round: string, now: number): Promise<PinOutcome> {
    return this.knex.transaction(async (trx) => {
      const existing: KeyRow[] = await trx('node_host_keys')
        .where({ node_id: nodeId })
        .select('key_type', 'key', 'round');
      if (existing.length > 0 && existing[0]!.round === round) return sameKeys(existing, keys) ? 'unchanged' : 'kept';
      await trx('node_host_keys').where({ node_id: nodeId }).delete();
      const rows = unique(keys).map((k) => ({
        node_id: nodeId,
        key_type: k.type,
        key: k.key,
        fingerprint: k.fingerprint,
        round,
        pinned_at: now,
      }));
      if (rows.length) await trx('node_host_keys').insert(rows);
      return 'pinned';
    });
  }

  /** The keys pinned for a node (none when its install sent none). */
  async forNode(nodeId: number): Promise<HostKey[]> {
    const rows: KeyRow[] = await this.knex('node_host_keys')
      .where({ node_id: nodeId })
      .orderBy('id')
      .select('key_type', 'key', 'round');
    return rows.map(toKey);
  }

  /** Forgets a node's keys (an admin's reset; the next install round pins again). */
  async clear(nodeId: number): Promise<number> {
    return this.knex('node_host_keys').where({ node_id: nodeId }).delete();
  }

  /**
   * The node homeport means when it connects to `address`, with its keys. The
   * SSH client asks this right before connecting; several nodes on one address
   * is ambiguous and refused, never "the most recent one wins".
   */
  async pinnedHostAt(address: string): Promise<PinnedHost> {
    // The address homeport connects to (nodes/address.ts): the admin's ip, else the one its round was seen at.
    const nodes: { id: number; mac: string; hostname: string | null }[] = await this.knex('nodes')
      .where({ ip: address })
      .orWhere((q) => q.whereNull('ip').andWhere({ observed_ip: address }))
      .orderBy('id')
      .limit(5)
      .select('id', 'mac', 'hostname');
    if (nodes.length === 0) return { kind: 'none' };
    const names = nodes.map((n) => `node ${n.id} (${n.hostname ? `${n.hostname}, ` : ''}${n.mac})`);
    if (nodes.length > 1) return { kind: 'ambiguous', nodes: names };
    return { kind: 'node', node: names[0]!, keys: await this.forNode(Number(nodes[0]!.id)) };
  }

  /**
   * Nodes homeport would SSH to (an admin's ip or a seen address) with no
   * pinned key: under ssh.hostKeys pinned they fall back to known_hosts, e.g.
   * after an upgrade, until their next install sends keys. Up to `limit` names.
   */
  async unpinnedNodes(limit = 10): Promise<{ total: number; names: string[] }> {
    const query = () =>
      this.knex('nodes')
        .where((q) => q.whereNotNull('ip').orWhereNotNull('observed_ip'))
        .whereNotExists(
          this.knex('node_host_keys').whereRaw('node_host_keys.node_id = nodes.id').select(this.knex.raw('1')),
        );
    const [{ n }] = (await query().count({ n: '*' })) as [{ n: number | string }];
    const rows: { mac: string; hostname: string | null }[] = await query()
      .orderBy('id')
      .limit(limit)
      .select('mac', 'hostname');
    return { total: Number(n), names: rows.map((r) => r.hostname ?? r.mac) };
  }
}

function toKey(row: KeyRow): HostKey {
  return { type: row.key_type, key: row.key };
}

function unique<K extends HostKey>(keys: readonly K[]): K[] {
  return keys.filter((k, i) => keys.findIndex((o) => o.key === k.key) === i);
}

function sameKeys(rows: readonly KeyRow[], keys: readonly HostKey[]): boolean {
  const stored = new Set(rows.map((r) => r.key));
  const given = new Set(keys.map((k) => k.key));
  return stored.size === given.size && [...given].every((k) => stored.has(k));
}
