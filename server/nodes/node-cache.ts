import type { Node } from '../store/nodes-repo.js';
import { LruMap } from '../util/lru.js';

/**
 * Nodes by MAC as the nodes service last read or wrote them, for the boot
 * path's reads (every per-node script and config starts with one). The
 * service is the one writer of the nodes table, so its own writes keep the
 * cache exact; the TTL bounds how long a write by another instance on the
 * same PostgreSQL (or a second process on the same SQLite file) goes unseen.
 */
export class NodeCache {
  private readonly entries: LruMap<string, { node: Node; at: number }>;

  constructor(
    private readonly ttlMs: number,
    maxNodes = 50_000,
  ) {
    this.entries = new LruMap(maxNodes);
  }

  get(mac: string, now: number): Node | undefined {
    const entry = this.entries.get(mac);
    return entry && now - entry.at < this.ttlMs ? entry.node : undefined;
  }

  /**
   * Stores a node read from the database. A row equal to the expired entry's
   * keeps the entry's object, so what is kept with that object (its rendered
   * script) stays valid: answers the object to use.
   */
  refresh(read: Node, now: number): Node {
    const expired = this.entries.get(read.mac)?.node;
    const node = expired && sameRow(expired, read) ? expired : read;
    this.put(node, now);
    return node;
  }

  put(node: Node, now: number): void {
    if (this.ttlMs > 0) this.entries.set(node.mac, { node, at: now });
  }

  /** After a delete: the MAC of a deleted id is not known here, and deletes are rare. */
  clear(): void {
    this.entries.clear();
  }
}

/** rowToNode builds every node with the same keys in the same order, so equal rows serialize alike. */
function sameRow(a: Node, b: Node): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
