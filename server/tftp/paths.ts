/**
 * Path confinement: a requested TFTP filename becomes a real file inside one of
 * the configured roots, or a TFTP error. Roots are tried in order (the configured
 * root first, then e.g. Debian's /usr/lib/ipxe), so a root can shadow the next.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { ErrorCode } from './packet.js';

export const DEBIAN_IPXE_DIR = '/usr/lib/ipxe';

export type ResolvedPath = { ok: true; path: string; root: string } | { ok: false; code: ErrorCode; message: string };

function denied(message: string): ResolvedPath {
  return { ok: false, code: ErrorCode.AccessViolation, message };
}

/**
 * The request as path segments relative to a root, or a reason to refuse it.
 * Leading slashes are stripped (firmware often sends "/pxelinux.0") and
 * backslashes count as separators (Windows-style firmware), so "..\\" is caught too.
 */
export function requestSegments(name: string): string[] | string {
  if (name.includes('\0')) return 'NUL in filename';
  const segments = name
    .replaceAll('\\', '/')
    .split('/')
    .filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) return '".." in filename';
  if (segments.length === 0) return 'empty filename';
  return segments;
}

function isInside(root: string, candidate: string): boolean {
  return candidate.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

async function realpathOrUndefined(p: string): Promise<string | undefined> {
  try {
    return await fs.realpath(p);
  } catch {
    return undefined;
  }
}

/**
 * Finds `name` under the first root that has it. A symlink is followed only if
 * its target stays inside the same root; one that leads out is refused, not
 * skipped, so that a planted link is visible in the logs as an access violation.
 */
export async function resolveRequestPath(name: string, roots: readonly string[]): Promise<ResolvedPath> {
  const segments = requestSegments(name);
  if (typeof segments === 'string') return denied(segments);

  for (const root of roots) {
    const realRoot = await realpathOrUndefined(root);
    if (realRoot === undefined) continue;
    const real = await realpathOrUndefined(path.join(realRoot, ...segments));
    if (real === undefined) continue;
    if (!isInside(realRoot, real)) return denied('path leads outside the root');
    const stat = await fs.stat(real).catch(() => undefined);
    if (stat === undefined) continue;
    if (!stat.isFile()) return denied('not a regular file');
    return { ok: true, path: real, root: realRoot };
  }
  return { ok: false, code: ErrorCode.FileNotFound, message: 'file not found' };
}
