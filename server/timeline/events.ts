/**
 * Boot events, the pure part: what an emitter hands in, how its detail is
 * bounded, and how a MAC's events split into boot attempts. No clock, no
 * database.
 */
import type { NewBootEvent } from '../store/boot-events-repo.js';

export const BOOT_EVENT_SOURCES = [
  'dhcp',
  'tftp',
  'http',
  'asset',
  'config',
  'phone_home',
  'power',
  'watcher',
] as const;
export type BootEventSource = (typeof BOOT_EVENT_SOURCES)[number];

/** A detail value: what an emitter may say about an event (no nested objects: nothing unbounded). */
export type DetailValue = string | number | boolean | null;

/** What an emitter reports; the service adds the time. */
export interface BootEventInput {
  mac: string;
  source: BootEventSource;
  /** What happened: a DHCP message type, `read`, `entry_script`, `node_script`, `asset`, `config`, `phase`, ... */
  kind: string;
  /** How it ended: `offer`, `ignored`, `complete`, `not_found`, `timeout`, `install`, `wait`, `refused`, ... */
  outcome: string;
  detail?: Record<string, DetailValue | undefined>;
}

/** An event as stored (without its row ids): what attempts and verdicts are computed from. */
export type BootEvent = NewBootEvent;

/** Bounds of one event's detail: what a caller controls (a vendor class, a file name) cannot grow a row. */
export const DETAIL_LIMITS = { keys: 16, keyLength: 32, stringLength: 200 } as const;
const NAME_LENGTH = 32;

/** A word stored as kind or outcome: at most 32 characters. */
export function boundedName(value: string): string {
  return value.slice(0, NAME_LENGTH);
}

/** The detail as stored: at most 16 keys, keys and strings cut, undefined and non-finite numbers dropped. */
export function boundDetail(detail: Record<string, DetailValue | undefined> = {}): Record<string, DetailValue> {
  const bounded: Record<string, DetailValue> = {};
  for (const [key, value] of Object.entries(detail).slice(0, DETAIL_LIMITS.keys)) {
    if (value === undefined || (typeof value === 'number' && !Number.isFinite(value))) continue;
    bounded[key.slice(0, DETAIL_LIMITS.keyLength)] =
      typeof value === 'string' ? value.slice(0, DETAIL_LIMITS.stringLength) : value;
  }
  return bounded;
}

/** Events further apart than this belong to different attempts, whatever they are. */
export const ATTEMPT_GAP_MS = 30 * 60_000;

/** Sources of the stages after DHCP and TFTP: the machine runs iPXE (or later) once one of them is seen. */
const HTTP_STAGE: ReadonlySet<string> = new Set(['http', 'asset', 'config', 'phone_home']);

/**
 * Where a new boot attempt starts: a power action; a DHCP DISCOVER after the
 * attempt reached HTTP (iPXE or the installer booted, and the machine starts
 * over); a DISCOVER from the firmware (not iPXE) after a TFTP transfer (the
 * PXE ROM retries); or any event after a long silence. iPXE's own DISCOVER
 * after the firmware loaded it over TFTP stays in the same attempt.
 */
export function startsAttempt(event: BootEvent, attempt: readonly BootEvent[]): boolean {
  const previous = attempt[attempt.length - 1];
  if (!previous) return true;
  if (event.at - previous.at > ATTEMPT_GAP_MS || event.source === 'power') return true;
  if (event.source !== 'dhcp' || event.kind !== 'DISCOVER') return false;
  if (attempt.some((e) => HTTP_STAGE.has(e.source))) return true;
  return event.detail.ipxe !== true && attempt.some((e) => e.source === 'tftp');
}

/** A MAC's events (oldest first) in boot attempts. */
export function splitAttempts(events: readonly BootEvent[]): BootEvent[][] {
  const attempts: BootEvent[][] = [];
  for (const event of events) {
    const current = attempts[attempts.length - 1];
    if (!current || startsAttempt(event, current)) attempts.push([event]);
    else current.push(event);
  }
  return attempts;
}

/** The latest attempt, or none. */
export function latestAttempt(events: readonly BootEvent[]): BootEvent[] {
  return splitAttempts(events).at(-1) ?? [];
}
