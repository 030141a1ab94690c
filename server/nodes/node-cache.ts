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
    if (!entry) return undefined;
    if (now - entry.at < this.ttlMs) return entry.node;
    this.entries.delete(mac);
    return undefined;
  }

  put(node: Node, now: number): void {
    if (this.ttlMs > 0) this.entries.set(node.mac, { node, at: now });
  }

  /** After a delete: the MAC of a deleted id is not known here, and deletes are rare. */
  clear(): void {
    this.entries.clear();
  }
}
