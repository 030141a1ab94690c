import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type Koa from 'koa';
import { badRequest, HttpError, notFound } from '../kernel/errors.js';
import { ChunkCache, readExactly } from '../util/chunk-cache.js';
import { etagOf, isNotModified, parseRange, rangeStillValid, type Validators } from './ranges.js';

/**
 * Static files (kernels, initrds, iPXE binaries) streamed from a directory:
 * never buffered whole, Range (206/416), ETag/Last-Modified with 304s, and
 * confined to the directory: `..` segments are refused, and the resolved
 * real path (after symlinks) must still be inside the directory's real path.
 */
const TYPES: Record<string, string> = {
  '.ipxe': 'text/plain; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.cfg': 'text/plain; charset=utf-8',
  '.sh': 'text/x-shellscript; charset=utf-8',
  '.gz': 'application/gzip',
  '.iso': 'application/x-iso9660-image',
  '.efi': 'application/efi',
};

/** Splits a URL path (still percent-encoded) into safe segments, or refuses it. */
export function safeSegments(rawPath: string): string[] {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw badRequest('asset path is not valid percent-encoding');
  }
  if (decoded.includes('\0') || decoded.includes('\\')) throw badRequest('asset path holds a NUL or a backslash');
  const segments = decoded.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '..' || s === '.')) throw badRequest('asset path may not contain . or .. segments');
  if (segments.length === 0) throw notFound('no asset named');
  return segments;
}

/** The real path of root/segments if it is a file inside root's real path; null otherwise. */
export async function confinedRealPath(root: string, segments: string[]): Promise<string | null> {
  try {
    const realRoot = await fs.promises.realpath(root);
    const real = await fs.promises.realpath(path.join(realRoot, ...segments));
    return real.startsWith(realRoot + path.sep) ? real : null;
  } catch {
    return null;
  }
}

/** Bytes read from a file at once, and the unit the cache shares between downloads. */
const CHUNK_BYTES = 256 * 1024;

/**
 * Chunks of the files being downloaded, shared by every download of them. A
 * boot storm is many machines fetching the same kernel and initrd: read once
 * into memory, each chunk is written to every socket from there. Reading it
 * from the page cache for each download (createReadStream) was half the
 * speed (make bench-assets: 0.56 of nginx's sendfile, and a bare node:http
 * server streaming the file did no better than homeport; from memory it
 * reached nginx's rate).
 */
export type AssetCache = ChunkCache<Buffer>;

/** How files are sent: the shared chunks, and how long a download may stall before it is dropped. */
export interface AssetServing {
  cache: AssetCache;
  /**
   * A client that takes no chunk for this long (one reading a byte a second,
   * or gone without a FIN) is disconnected: it would hold a descriptor and
   * its chunks forever.
   */
  stallMs: number;
}

export function assetServing(cacheBytes: number, stallMs: number): AssetServing {
  return { cache: new ChunkCache<Buffer>(cacheBytes), stallMs };
}

/**
 * Bytes start..end (inclusive) of an open file, chunk by chunk through the
 * cache; the handle is closed when the stream ends or the client goes away
 * (Koa destroys a body stream when its response closes). Keys name the
 * file's identity and version: a replaced file is never served from stale
 * chunks. `onStall` runs when the client took no chunk for `stallMs`.
 */
function cachedChunks(
  handle: fs.promises.FileHandle,
  stat: fs.Stats,
  start: number,
  end: number,
  serving: AssetServing,
  onStall: () => void,
): Readable {
  const identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  let stall: NodeJS.Timeout | undefined;
  async function* chunks(): AsyncGenerator<Buffer> {
    try {
      for (let index = Math.floor(start / CHUNK_BYTES); index * CHUNK_BYTES <= end; index++) {
        const offset = index * CHUNK_BYTES;
        const length = Math.min(CHUNK_BYTES, stat.size - offset);
        const chunk = await serving.cache.get(`${identity}:${index}`, length, () =>
          readExactly(handle, offset, length),
        );
        // Re-armed on every chunk the client takes; a stalled client is never asked again.
        clearTimeout(stall);
        stall = setTimeout(onStall, serving.stallMs);
        yield chunk.subarray(Math.max(start, offset) - offset, Math.min(end + 1, offset + length) - offset);
      }
    } finally {
      clearTimeout(stall);
      await handle.close();
    }
  }
  return Readable.from(chunks(), { objectMode: false });
}

export async function serveFile(ctx: Koa.Context, root: string, rawPath: string, serving: AssetServing): Promise<void> {
  const segments = safeSegments(rawPath);
  const shown = segments.join('/');
  const real = await confinedRealPath(root, segments);
  if (!real) throw notFound(`no asset ${shown}`);
  let handle: fs.promises.FileHandle;
  try {
    // O_NOFOLLOW: the checked path cannot have been swapped for a symlink since.
    handle = await fs.promises.open(real, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch {
    throw notFound(`no asset ${shown}`);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw notFound(`no asset ${shown}`);
    respond(ctx, handle, stat, shown, serving);
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Sets status, headers and body; hands the handle to the body stream (which closes it) or closes it. */
function respond(
  ctx: Koa.Context,
  handle: fs.promises.FileHandle,
  stat: fs.Stats,
  name: string,
  serving: AssetServing,
): void {
  const validators: Validators = { etag: etagOf(stat.size, stat.mtimeMs), mtimeMs: stat.mtimeMs };
  ctx.set('ETag', validators.etag);
  ctx.set('Last-Modified', stat.mtime.toUTCString());
  ctx.set('Accept-Ranges', 'bytes');
  if (
    isNotModified(
      {
        ifNoneMatch: ctx.get('if-none-match') || undefined,
        ifModifiedSince: ctx.get('if-modified-since') || undefined,
      },
      validators,
    )
  ) {
    ctx.status = 304;
    void handle.close();
    return;
  }
  const range = rangeStillValid(ctx.get('if-range') || undefined, validators)
    ? parseRange(ctx.get('range') || undefined, stat.size)
    : ({ kind: 'full' } as const);
  if (range.kind === 'unsatisfiable') {
    ctx.set('Content-Range', `bytes */${stat.size}`);
    throw new HttpError(416, 'range_not_satisfiable', `${name} has ${stat.size} bytes`);
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : stat.size - 1;
  if (range.kind === 'partial') {
    ctx.status = 206;
    ctx.set('Content-Range', `bytes ${start}-${end}/${stat.size}`);
  }
  ctx.type = TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
  if (ctx.method === 'HEAD' || stat.size === 0) {
    void handle.close();
    ctx.body = '';
  } else {
    // A reset, not a FIN: the kernel drops what the client never read instead of keeping it queued behind the close.
    ctx.body = cachedChunks(handle, stat, start, end, serving, () => ctx.req.socket.resetAndDestroy());
  }
  ctx.length = end - start + 1;
}
