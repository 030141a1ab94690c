/**
 * Where DATA packets come from: a file read in chunks (shared between sessions
 * through a small cache), a netascii conversion of a file, or an in-memory
 * rendered file. Block numbers here are absolute and 1-based: block b carries
 * bytes [(b-1)*blksize, b*blksize) of what the client receives.
 *
 * Sources hand out whole DATA packets (header included). The header depends
 * only on the block number, so packets built once are shared as they are by
 * every session reading the same file with the same blksize.
 */
import type { Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { ChunkCache, readExactly } from '../util/chunk-cache.js';
import { writeDataHeader } from './packet.js';

/** File chunks framed as DATA packets, shared by the sessions of one worker. */
export type PacketCache = ChunkCache<PacketRun>;

export function newPacketCache(maxBytes: number): PacketCache {
  return new ChunkCache<PacketRun>(maxBytes);
}

export interface BlockSource {
  /** Bytes the client receives (after netascii conversion, if any). */
  readonly size: number;
  /** DATA packets for blocks from..to (inclusive) if they are in memory now. */
  ready(from: number, to: number, blksize: number): Buffer[] | undefined;
  /**
   * Reads blocks from..to and returns their packets. A transfer never asks for
   * a block below a `from` it asked for before, so sources may forget older data.
   */
  load(from: number, to: number, blksize: number): Promise<Buffer[]>;
  close(): Promise<void>;
}

/** Number of the last DATA block: a transfer always ends with a block shorter than blksize. */
export function lastBlockNumber(size: number, blksize: number): number {
  return Math.floor(size / blksize) + 1;
}

const HEADER_BYTES = 4;

/** DATA packets of consecutive blocks, back to back in one buffer. */
class PacketRun {
  /**
   * One view per block, made on first use and then shared by every session
   * sending that block: a lock-step transfer sends one packet per ACK, and a
   * fresh Buffer view per send was a measurable part of its cost.
   */
  private readonly views: (Buffer | undefined)[];

  constructor(
    readonly firstBlock: number,
    readonly lastBlock: number,
    private readonly buffer: Buffer,
    private readonly blksize: number,
  ) {
    this.views = new Array<Buffer | undefined>(lastBlock - firstBlock + 1);
  }

  /** Frames `payload` (the bytes of blocks firstBlock.., the last one possibly short). */
  static frame(payload: Buffer, firstBlock: number, lastBlock: number, blksize: number): PacketRun {
    const count = lastBlock - firstBlock + 1;
    const buffer = Buffer.allocUnsafe(payload.length + count * HEADER_BYTES);
    for (let i = 0; i < count; i++) {
      const at = i * (blksize + HEADER_BYTES);
      writeDataHeader(buffer, at, firstBlock + i);
      payload.copy(buffer, at + HEADER_BYTES, i * blksize, (i + 1) * blksize);
    }
    return new PacketRun(firstBlock, lastBlock, buffer, blksize);
  }

  covers(from: number, to: number): boolean {
    return from >= this.firstBlock && to <= this.lastBlock;
  }

  packet(block: number): Buffer {
    const index = block - this.firstBlock;
    let view = this.views[index];
    if (view === undefined) {
      const start = index * (this.blksize + HEADER_BYTES);
      view = this.buffer.subarray(start, start + this.blksize + HEADER_BYTES);
      this.views[index] = view;
    }
    return view;
  }

  packets(from: number, to: number): Buffer[] {
    const packets: Buffer[] = [];
    for (let b = from; b <= to; b++) packets.push(this.packet(b));
    return packets;
  }
}

/** Frames the blocks from..to of `data`, which starts at byte `dataStart` of the transfer. */
function frameRange(data: Buffer, dataStart: number, from: number, to: number, blksize: number): PacketRun {
  const start = (from - 1) * blksize - dataStart;
  return PacketRun.frame(data.subarray(start, start + (to - from + 1) * blksize), from, to, blksize);
}

export function memorySource(data: Buffer): BlockSource {
  // Rendered files are a few KB: frame them whole, once per blksize.
  const framed = new Map<number, PacketRun>();
  function run(blksize: number): PacketRun {
    let packets = framed.get(blksize);
    if (!packets) {
      packets = PacketRun.frame(data, 1, lastBlockNumber(data.length, blksize), blksize);
      framed.set(blksize, packets);
    }
    return packets;
  }
  return {
    size: data.length,
    ready: (from, to, blksize) => run(blksize).packets(from, to),
    load: async (from, to, blksize) => run(blksize).packets(from, to),
    close: async () => {},
  };
}

/** About this many bytes are read from disk at once. */
const CHUNK_TARGET_BYTES = 256 * 1024;

/**
 * An octet-mode file. Chunks hold whole blocks so that a block never straddles
 * two chunks; the cache key names the file's identity and version, so a file
 * replaced on disk is never served from stale chunks.
 */
export function fileSource(handle: FileHandle, stat: Stats, cache: PacketCache): BlockSource {
  const size = stat.size;
  const identity = `${stat.dev}:${stat.ino}:${size}:${stat.mtimeMs}`;
  /** The chunk this session used last: most packets come from it without a cache look-up. */
  let current: PacketRun | undefined;

  const blocksPerChunk = (blksize: number) => Math.max(1, Math.floor(CHUNK_TARGET_BYTES / blksize));
  const chunkOf = (block: number, blksize: number) => Math.floor((block - 1) / blocksPerChunk(blksize));
  const keyOf = (index: number, blksize: number) => `${identity}:${blksize}:${index}`;

  function readChunk(index: number, blksize: number): Promise<PacketRun> {
    const perChunk = blocksPerChunk(blksize);
    const first = index * perChunk + 1;
    const last = Math.min((index + 1) * perChunk, lastBlockNumber(size, blksize));
    const start = (first - 1) * blksize;
    const length = Math.min(perChunk * blksize, size - start);
    const bytes = length + (last - first + 1) * HEADER_BYTES;
    return cache.get(keyOf(index, blksize), bytes, async () =>
      PacketRun.frame(await readExactly(handle, start, length), first, last, blksize),
    );
  }

  return {
    size,
    ready(from, to, blksize) {
      if (current?.covers(from, to)) return current.packets(from, to);
      const packets: Buffer[] = [];
      for (let index = chunkOf(from, blksize); index <= chunkOf(to, blksize); index++) {
        const run = cache.peek(keyOf(index, blksize));
        if (!run) return undefined;
        current = run;
        packets.push(...run.packets(Math.max(from, run.firstBlock), Math.min(to, run.lastBlock)));
      }
      return packets;
    },
    async load(from, to, blksize) {
      const packets: Buffer[] = [];
      for (let index = chunkOf(from, blksize); index <= chunkOf(to, blksize); index++) {
        current = await readChunk(index, blksize);
        packets.push(...current.packets(Math.max(from, current.firstBlock), Math.min(to, current.lastBlock)));
      }
      return packets;
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

  function dropBefore(from: number, blksize: number): void {
    const start = (from - 1) * blksize;
    if (start < pendingStart) throw new Error('netascii source asked to go backwards');
    pending = pending.subarray(start - pendingStart);
    pendingStart = start;
  }

  const endOf = (to: number, blksize: number) => Math.min(to * blksize, size);
  const have = (to: number, blksize: number) => pendingStart + pending.length >= endOf(to, blksize);

  return {
    size,
    ready(from, to, blksize) {
      if (!have(to, blksize)) return undefined;
      dropBefore(from, blksize);
      return frameRange(pending, pendingStart, from, to, blksize).packets(from, to);
    },
    async load(from, to, blksize) {
      dropBefore(from, blksize);
      while (!have(to, blksize) && rawOffset < rawSize) {
        const length = Math.min(NETASCII_READ_BYTES, rawSize - rawOffset);
        const converted = toNetascii(await readExactly(handle, rawOffset, length));
        rawOffset += length;
        pending = Buffer.concat([pending, converted]);
      }
      return frameRange(pending, pendingStart, from, to, blksize).packets(from, to);
    },
    close: () => handle.close(),
  };
}
