/**
 * HTTP Range and conditional-request rules for static files (RFC 9110). Pure.
 * One range per request: a multi-range request gets the whole file (200),
 * which the RFC allows and which every boot loader is happy with.
 */
export type RangeResult =
  { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

export function parseRange(header: string | undefined, size: number): RangeResult {
  if (!header) return { kind: 'full' };
  const match = SINGLE_RANGE.exec(header.trim());
  // Another unit, several ranges or a malformed header: ignore it (RFC 9110 14.2).
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };
  if (first === '') {
    // Suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', start: Math.max(0, size - length), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (last !== '' && Number(last) < start) return { kind: 'full' };
  if (start >= size) return { kind: 'unsatisfiable' };
  return { kind: 'partial', start, end };
}

export interface Validators {
  etag: string;
  /** Modification time in ms; HTTP dates have one-second resolution. */
  mtimeMs: number;
}

/** A strong validator from size and mtime: changes whenever the file is replaced or rewritten. */
export function etagOf(size: number, mtimeMs: number): string {
  return `"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/** If-None-Match (weak comparison), else If-Modified-Since. */
export function isNotModified(headers: { ifNoneMatch?: string; ifModifiedSince?: string }, v: Validators): boolean {
  if (headers.ifNoneMatch) {
    const tags = headers.ifNoneMatch.split(',').map((t) => t.trim().replace(/^W\//, ''));
    return tags.includes('*') || tags.includes(v.etag);
  }
  if (headers.ifModifiedSince) {
    const since = Date.parse(headers.ifModifiedSince);
    return !Number.isNaN(since) && seconds(v.mtimeMs) <= seconds(since);
  }
  return false;
}

/** If-Range: the range applies only if the client's copy is still current (strong comparison). */
export function rangeStillValid(ifRange: string | undefined, v: Validators): boolean {
  if (!ifRange) return true;
  const value = ifRange.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return value === v.etag;
  const date = Date.parse(value);
  return !Number.isNaN(date) && seconds(date) === seconds(v.mtimeMs);
}
