/**
 * Option negotiation for read requests: RFC 2347 (framework), 2348 (blksize),
 * 2349 (timeout, tsize) and 7440 (windowsize). Pure.
 *
 * An option with a value we cannot accept is left out of the OACK rather than
 * refused with error 8: the client then falls back to the RFC 1350 default,
 * which is what tftpd-hpa and most PXE-era servers do.
 */
import type { Options } from './packet.js';

export const DEFAULT_BLKSIZE = 512;
export const MIN_BLKSIZE = 8;
export const MAX_BLKSIZE = 65464;
export const MAX_WINDOWSIZE = 65535;

export interface NegotiationLimits {
  /** Largest blksize we agree to (client requests above it are clamped). */
  maxBlksize: number;
  /** Largest windowsize we agree to (client requests above it are clamped). */
  maxWindowsize: number;
}

export interface NegotiatedTransfer {
  blksize: number;
  windowsize: number;
  /** Retransmission timeout the client asked for, in seconds; undefined = server default. */
  timeoutSeconds: number | undefined;
  /** Options to acknowledge; empty means no OACK (plain RFC 1350 transfer). */
  oack: Map<string, string>;
}

/** A strictly decimal integer, or undefined ("12abc", "", "1e3" are not). */
function parseDecimal(value: string): number | undefined {
  return /^[0-9]{1,10}$/.test(value) ? Number(value) : undefined;
}

function clamp(value: number, max: number): number {
  return Math.min(value, max);
}

/**
 * @param fileSize the size that will be transferred, or undefined if we will not
 *   announce it (tsize is then left out of the OACK).
 */
export function negotiate(
  requested: Options,
  limits: NegotiationLimits,
  fileSize: number | undefined,
): NegotiatedTransfer {
  const result: NegotiatedTransfer = {
    blksize: DEFAULT_BLKSIZE,
    windowsize: 1,
    timeoutSeconds: undefined,
    oack: new Map(),
  };

  const blksize = parseDecimal(requested.get('blksize') ?? '');
  if (blksize !== undefined && blksize >= MIN_BLKSIZE) {
    result.blksize = clamp(blksize, Math.min(limits.maxBlksize, MAX_BLKSIZE));
    result.oack.set('blksize', String(result.blksize));
  }

  const timeout = parseDecimal(requested.get('timeout') ?? '');
  if (timeout !== undefined && timeout >= 1 && timeout <= 255) {
    result.timeoutSeconds = timeout;
    result.oack.set('timeout', String(timeout));
  }

  // In a read request tsize is 0; the server answers with the size (RFC 2349).
  if (requested.has('tsize') && fileSize !== undefined) {
    result.oack.set('tsize', String(fileSize));
  }

  const windowsize = parseDecimal(requested.get('windowsize') ?? '');
  if (windowsize !== undefined && windowsize >= 1) {
    result.windowsize = clamp(windowsize, Math.min(limits.maxWindowsize, MAX_WINDOWSIZE));
    result.oack.set('windowsize', String(result.windowsize));
  }

  return result;
}
