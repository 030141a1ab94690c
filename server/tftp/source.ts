/**
 * Where the payload of DATA blocks comes from: a file read in chunks (shared
 * between sessions through a small cache), a netascii conversion of a file, or
 * an in-memory rendered file. Block numbers here are absolute and 1-based:
 * block b carries bytes [(b-1)*blksize, b*blksize) of what the client receives.
 */
import type { FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';

export interface BlockSource {
  /** Bytes the client receives (after netascii conversion, if any). */
  readonly size: number;
  /**
   * Payloads of blocks `from..to` (inclusive). A transfer never asks for a block
   * below one it asked for before as `from`, so sources may forget older data.
   */
  blocks(from: number, to: number, blksize: number): Promise<Buffer[]>;
  close(): Promise<void>;
}

/** Number of the last DATA block: a transfer always ends with a block shorter than blksize. */
export function lastBlockNumber(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}

function sliceBlocks(data: Buffer, dataStart: number, from: number, to: number, blksize: number): Buffer[] {
  const blocks: Buffer[] = [];
  for (let b = from; b <= to; b++) {
    const start = (b - 1) * blksize - dataStart;
    blocks.push(data.subarray(start, start + blksize));
  }
  return blocks;
}

export function memorySource(data: Buffer): BlockSource {
  return {
    size: data.length,
    blocks: async (from, to, blksize) => sliceBlocks(data, 0, from, to, blksize),
    close: async () => {},
  };
}

/** Reads exactly `length` bytes at `position`; a file that shrank under us is an error. */
async function readExactly(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, position + filled);
    if (bytesRead === 0) throw new Error('file shrank during the transfer');
    filled += bytesRead;
  }
  return buffer;
}

/**
 * A bounded LRU of file chunks. Many PXE clients booting at once fetch the same
 * initrd: they then share one disk read (and one promise while it is in flight)
 * per chunk instead of one per block per client.
 */
export class ChunkCache {
  private readonly entries = new Map<string, { chunk: Promise<Buffer>; bytes: number }>();
  private totalBytes = 0;

  constructor(private readonly maxBytes: number) {}

  get(key: string, bytes: number, load: () => Promise<Buffer>): Promise<Buffer> {
    const hit = this.entries.get(key);
    if (hit) {
      // Re-insert to mark it most recently used (Map keeps insertion order).
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.chunk;
    }
    const chunk = load();
    if (bytes <= this.maxBytes) {
      this.entries.set(key, { chunk, bytes });
      this.totalBytes += bytes;
      chunk.catch(() => this.remove(key));
      this.evict();
    }
    return chunk;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
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

/** About this many bytes are read from disk at once. */
const CHUNK_TARGET_BYTES = 256 * 1024;

/**
 * An octet-mode file. Chunks hold whole blocks so that a block never straddles
 * two chunks; the cache key names the file's identity and version, so a file
 * replaced on disk is never served from stale chunks.
 */
export function fileSource(handle: FileHandle, stat: Stats, cache: ChunkCache): BlockSource {
  const size = stat.size;
  const identity = `${stat.dev}:${stat.ino}:${size}:${stat.mtimeMs}`;

  function chunk(index: number, blksize: number, blocksPerChunk: number): Promise<Buffer> {
    const start = index * blocksPerChunk * blksize;
    const length = Math.max(0, Math.min(blocksPerChunk * blksize, size - start));
    if (length === 0) return Promise.resolve(Buffer.alloc(0));
    return cache.get(`${identity}:${blksize}:${index}`, length, () => readExactly(handle, start, length));
  }

  return {
    size,
    async blocks(from, to, blksize) {
      const blocksPerChunk = Math.max(1, Math.floor(CHUNK_TARGET_BYTES / blksize));
      const chunkOf = (b: number) => Math.floor((b - 1) / blocksPerChunk);
      const blocks: Buffer[] = [];
      for (let index = chunkOf(from); index <= chunkOf(to); index++) {
        const data = await chunk(index, blksize, blocksPerChunk);
        const first = Math.max(from, index * blocksPerChunk + 1);
        const last = Math.min(to, (index + 1) * blocksPerChunk);
        blocks.push(...sliceBlocks(data, index * blocksPerChunk * blksize, first, last, blksize));
      }
      return blocks;
    },
    // FileHandle.close() waits for reads still in flight, so the fd is never reused under them.
    close: () => handle.close(),
  };
}

/** Netascii (RFC 764 as used by RFC 1350): LF becomes CR LF, CR becomes CR NUL. */
export function toNetascii(raw: Buffer): Buffer {
  const out = Buffer.allocUnsafe(netasciiLength(raw));
  let o = 0;
  for (const byte of raw) {
    if (byte === 0x0a) {
      out[o++] = 0x0d;
      out[o++] = 0x0a;
    } else if (byte === 0x0d) {
      out[o++] = 0x0d;
      out[o++] = 0x00;
    } else {
      out[o++] = byte;
    }
  }
  return out;
}

export function netasciiLength(raw: Buffer): number {
  let extra = 0;
  for (const byte of raw) if (byte === 0x0a || byte === 0x0d) extra++;
  return raw.length + extra;
}

const NETASCII_READ_BYTES = 64 * 1024;

/**
 * A file converted to netascii on the fly. The conversion is byte by byte, so
 * the converted size is known from one streaming pass, and blocks are produced
 * sequentially while data below the transfer's window is dropped.
 */
export async function netasciiFileSource(handle: FileHandle, rawSize: number): Promise<BlockSource> {
  let size = 0;
  for (let offset = 0; offset < rawSize; offset += NETASCII_READ_BYTES) {
    size += netasciiLength(await readExactly(handle, offset, Math.min(NETASCII_READ_BYTES, rawSize - offset)));
  }

  let pending = Buffer.alloc(0); // converted bytes starting at pendingStart
  let pendingStart = 0;
  let rawOffset = 0;

  return {
    size,
    async blocks(from, to, blksize) {
      const start = (from - 1) * blksize;
      if (start < pendingStart) throw new Error('netascii source asked to go backwards');
      pending = pending.subarray(start - pendingStart);
      pendingStart = start;
      const end = Math.min(to * blksize, size);
      while (pendingStart + pending.length < end && rawOffset < rawSize) {
        const length = Math.min(NETASCII_READ_BYTES, rawSize - rawOffset);
        const converted = toNetascii(await readExactly(handle, rawOffset, length));
        rawOffset += length;
        pending = Buffer.concat([pending, converted]);
      }
      return sliceBlocks(pending, pendingStart, from, to, blksize);
    },
    close: () => handle.close(),
  };
}
