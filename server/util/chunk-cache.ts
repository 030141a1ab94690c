import type { FileHandle } from 'node:fs/promises';

/** Reads exactly `length` bytes at `position`; a file that shrank under us is an error. */
export async function readExactly(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new Error('file shrank during the transfer');
    filled += bytesRead;
  }
  return buffer;
}

interface CacheEntry<V> {
  loading: Promise<V>;
  /** Set once loaded, so that hits need no promise. */
  value?: V;
  bytes: number;
}

/**
 * A bounded LRU of file chunks (by bytes). Many machines booting at once fetch
 * the same kernel and initrd, over TFTP (chunks framed as DATA packets) and
 * HTTP (plain chunks): they then share one read (and one promise while it is
 * in flight) per chunk instead of one per client.
 */
export class ChunkCache<V> {
  private readonly entries = new Map<string, CacheEntry<V>>();
  private totalBytes = 0;

  constructor(private readonly maxBytes: number) {}

  /** The chunk if it is loaded, marked most recently used. */
  peek(key: string): V | undefined {
    const entry = this.entries.get(key);
    if (!entry?.value) return undefined;
    // Re-insert to mark it most recently used (a Map keeps insertion order).
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  get(key: string, bytes: number, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit) return hit.loading;
    const entry: CacheEntry<V> = { loading: load(), bytes };
    entry.loading.then(
      (value) => (entry.value = value),
      () => this.remove(key, entry),
    );
    if (bytes <= this.maxBytes) {
      this.entries.set(key, entry);
      this.totalBytes += bytes;
      this.evict();
    }
    return entry.loading;
  }

  private remove(key: string, expected?: CacheEntry<V>): void {
    const entry = this.entries.get(key);
    if (!entry || (expected && entry !== expected)) return;
    this.entries.delete(key);
    this.totalBytes -= entry.bytes;
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.totalBytes <= this.maxBytes) return;
      this.remove(key);
    }
  }
}
