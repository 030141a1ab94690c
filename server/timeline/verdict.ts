/**
 * Why did it (not) boot: a pure function from a machine's latest boot
 * attempt (its boot events) and its install phases to a verdict with the
 * evidence that decided it. The rules look from the last stage back to the
 * first: the furthest stage the machine reached says the most.
 */
import { latestAttempt, type BootEvent } from './events.js';

export interface PhaseRecord {
  phase: string;
  status: string;
  message: string | null;
  at: number;
  /** Who recorded it: `installer` (a phone-home), `server` (ipxe_boot, config_download), `dhcp`, `watcher`, `admin`. */
  source: string;
}

/** Records homeport writes itself while serving a boot: not a sign the installer is alive. */
const SERVER_SOURCES: ReadonlySet<string> = new Set(['server', 'dhcp']);

export interface VerdictLimits {
  /** Install script served, no phone-home for this long: no_phone_home. */
  noPhoneHomeMs: number;
  /** Last phase older than this (and not final): phase_stalled. */
  phaseStallMs: number;
  /** Entry script fetched, no node script for this long: no_node_script. */
  scriptGapMs: number;
}

export const VERDICTS = [
  'ok',
  'in_progress',
  'no_dhcp',
  'dhcp_ignored',
  'offered_not_requested',
  'tftp_not_found',
  'tftp_refused',
  'tftp_stalled',
  'no_node_script',
  'script_wait',
  'script_deny',
  'script_refused',
  'script_error',
  'asset_missing',
  'asset_aborted',
  'config_refused',
  'phone_home_refused',
  'no_phone_home',
  'install_failed',
  'phase_stalled',
  'pxe_loop',
] as const;
export type VerdictKind = (typeof VERDICTS)[number];

export interface Verdict {
  verdict: VerdictKind;
  /** One line a person reads first. */
  summary: string;
  /** The facts that decided it, in order. */
  evidence: string[];
}

interface Attempt {
  events: BootEvent[];
  /** Phases reported (not recorded by homeport itself) since the attempt started. */
  phases: PhaseRecord[];
  /** The last phase before it (e.g. the `deployed` of the previous install). */
  before: PhaseRecord | undefined;
  now: number;
  limits: VerdictLimits;
}

type Rule = (a: Attempt) => Verdict | null;

const FINAL_PHASE = 'deployed';
const FAILURE_PHASES: ReadonlySet<string> = new Set(['failed', 'cleanup_completed']);

export function verdictOf(
  events: readonly BootEvent[],
  phases: readonly PhaseRecord[],
  now: number,
  limits: VerdictLimits,
): Verdict {
  const attemptEvents = latestAttempt(events);
  const start = attemptEvents[0]?.at ?? -Infinity;
  const attempt: Attempt = {
    events: attemptEvents,
    phases: phases.filter((p) => p.at >= start && !SERVER_SOURCES.has(p.source)),
    before: phases.filter((p) => p.at < start && !SERVER_SOURCES.has(p.source)).at(-1),
    now,
    limits,
  };
  for (const rule of RULES) {
    const verdict = rule(attempt);
    if (verdict) return verdict;
  }
  return { verdict: 'in_progress', summary: 'the boot is under way', evidence: attemptEvents.map(describeEvent) };
}

// ---------------------------------------------------------------- rules, last stage first

const RULES: Rule[] = [
  pxeLoop,
  phasesVerdict,
  phoneHomeRefused,
  assetVerdict,
  configRefused,
  nodeScriptVerdict,
  entryWithoutNodeScript,
  tftpVerdict,
  dhcpVerdict,
];

function pxeLoop(a: Attempt): Verdict | null {
  const script = last(a.events, (e) => e.kind === 'node_script');
  const deployed = a.before?.phase === FINAL_PHASE && a.before.status === 'completed';
  if (!deployed || a.events.length === 0 || script?.outcome === 'install') return null;
  return {
    verdict: 'pxe_loop',
    summary: 'PXE loop after install: the installed node netbooted again',
    evidence: [
      `deployed ${ago(a.now, a.before!.at)}`,
      `then netbooted again ${ago(a.now, a.events[0]!.at)}${script ? ` and was served "${script.outcome}"` : ''}`,
      'the firmware did not keep the boot-once order (boot from disk after install)',
    ],
  };
}

function phasesVerdict(a: Attempt): Verdict | null {
  const lastPhase = a.phases.at(-1);
  if (!lastPhase) return null;
  if (lastPhase.phase === FINAL_PHASE && lastPhase.status === 'completed')
    return { verdict: 'ok', summary: 'deployed', evidence: stageTimings(a, lastPhase) };
  if (FAILURE_PHASES.has(lastPhase.phase) || lastPhase.status === 'failed')
    return {
      verdict: 'install_failed',
      summary: `the installer reported ${lastPhase.phase} ${lastPhase.status}`,
      evidence: [`${lastPhase.phase}: ${lastPhase.message ?? '(no message)'}`],
    };
  const quiet = a.now - lastPhase.at;
  if (quiet <= a.limits.phaseStallMs) return null;
  return {
    verdict: 'phase_stalled',
    summary: `phases stopped at ${lastPhase.phase}`,
    evidence: [
      `last report: ${lastPhase.phase} ${lastPhase.status} ${ago(a.now, lastPhase.at)}`,
      `longer than ${minutes(a.limits.phaseStallMs)} without a report`,
    ],
  };
}

function phoneHomeRefused(a: Attempt): Verdict | null {
  const refused = last(a.events, (e) => e.source === 'phone_home' && e.outcome === 'refused');
  if (!refused || a.phases.length > 0) return null;
  return {
    verdict: 'phone_home_refused',
    summary: `phone-home ${refused.kind} refused: ${String(refused.detail.reason ?? 'no reason')}`,
    evidence: [describeEvent(refused)],
  };
}

function assetVerdict(a: Attempt): Verdict | null {
  const failed = last(a.events, (e) => e.source === 'asset' && e.outcome !== 'complete');
  if (!failed || a.phases.length > 0) return null;
  const name = String(failed.detail.path ?? 'an asset');
  if (failed.outcome === 'not_found')
    return {
      verdict: 'asset_missing',
      summary: `${name} 404: not under boot.assetsDir`,
      evidence: [describeEvent(failed)],
    };
  return {
    verdict: 'asset_aborted',
    summary: `${name} download aborted at ${percent(failed)}`,
    evidence: [describeEvent(failed)],
  };
}

function configRefused(a: Attempt): Verdict | null {
  const refused = last(a.events, (e) => e.source === 'config' && e.outcome !== 'served');
  if (!refused || a.phases.length > 0) return null;
  return {
    verdict: 'config_refused',
    summary: `install config ${String(refused.detail.name ?? '')} not served: ${String(refused.detail.reason ?? refused.outcome)}`,
    evidence: [describeEvent(refused)],
  };
}

const SCRIPT_VERDICTS: Record<string, VerdictKind> = {
  wait: 'script_wait',
  deny: 'script_deny',
  refused: 'script_refused',
  error: 'script_error',
};

function nodeScriptVerdict(a: Attempt): Verdict | null {
  const script = last(a.events, (e) => e.kind === 'node_script');
  if (!script) return null;
  const kind = SCRIPT_VERDICTS[script.outcome];
  if (kind) {
    const why = script.detail.reason ? `: ${String(script.detail.reason)}` : '';
    return {
      verdict: kind,
      summary: `the node script said "${script.outcome}"${why}`,
      evidence: [describeEvent(script)],
    };
  }
  if (script.outcome === 'local')
    return { verdict: 'ok', summary: 'netboot is off: served a local-disk boot', evidence: [describeEvent(script)] };
  if (script.outcome !== 'install' || a.now - lastAt(a) <= a.limits.noPhoneHomeMs) return null;
  return {
    verdict: 'no_phone_home',
    summary: `the installer booted, but no phone-home within ${minutes(a.limits.noPhoneHomeMs)}`,
    evidence: [
      describeEvent(script),
      ...a.events.filter((e) => e.source === 'asset').map(describeEvent),
      `nothing since ${ago(a.now, lastAt(a))}`,
    ],
  };
}

function entryWithoutNodeScript(a: Attempt): Verdict | null {
  const entry = last(a.events, (e) => e.kind === 'entry_script');
  if (!entry || a.now - entry.at <= a.limits.scriptGapMs) return null;
  if (a.events.some((e) => e.kind === 'node_script' && e.at >= entry.at)) return null;
  return {
    verdict: 'no_node_script',
    summary: 'iPXE fetched the entry script but never its node script',
    evidence: [describeEvent(entry), 'check that iPXE reaches the URL the entry script chains to (http.publicUrl)'],
  };
}

function tftpVerdict(a: Attempt): Verdict | null {
  const transfer = last(a.events, (e) => e.source === 'tftp');
  if (!transfer || transfer.outcome === 'complete') return null;
  const file = String(transfer.detail.file ?? '?');
  if (transfer.outcome === 'not_found')
    return { verdict: 'tftp_not_found', summary: `TFTP file not found: ${file}`, evidence: [describeEvent(transfer)] };
  if (transfer.outcome === 'timeout')
    return {
      verdict: 'tftp_stalled',
      summary: `TFTP ${file} stalled at block ${String(transfer.detail.block ?? 0)}`,
      evidence: [
        describeEvent(transfer),
        `blksize ${String(transfer.detail.blksize ?? 512)}: a path MTU below it would drop every block (try a smaller tftp.maxBlksize)`,
      ],
    };
  return {
    verdict: 'tftp_refused',
    summary: `TFTP ${file} ended: ${transfer.outcome}`,
    evidence: [describeEvent(transfer)],
  };
}

function dhcpVerdict(a: Attempt): Verdict | null {
  const dhcp = a.events.filter((e) => e.source === 'dhcp');
  if (dhcp.length === 0)
    return {
      verdict: 'no_dhcp',
      summary: 'no DHCP request from this machine was seen',
      evidence: ['check cabling, the VLAN, the DHCP relay (giaddr) or another DHCP server answering first'],
    };
  if (dhcp.every((e) => e.outcome === 'ignored'))
    return {
      verdict: 'dhcp_ignored',
      summary: `DHCP ignored: ${String(dhcp.at(-1)!.detail.reason ?? 'no reason')}`,
      evidence: dhcp.map(describeEvent),
    };
  const offered = dhcp.some((e) => e.outcome === 'offer');
  const requested = dhcp.some((e) => e.kind === 'REQUEST');
  if (offered && !requested && a.now - lastAt(a) > a.limits.scriptGapMs)
    return {
      verdict: 'offered_not_requested',
      summary: 'offered but never requested: another server’s offer was taken',
      evidence: dhcp.map(describeEvent),
    };
  return null;
}

// ---------------------------------------------------------------- evidence

/** ok: how long each stage took (DHCP → script → kernel → first phone-home → deployed). */
function stageTimings(a: Attempt, deployed: PhaseRecord): string[] {
  const marks: [string, number | undefined][] = [
    ['DHCP', first(a.events, (e) => e.source === 'dhcp')?.at],
    ['node script', first(a.events, (e) => e.kind === 'node_script')?.at],
    ['kernel', first(a.events, (e) => e.source === 'asset')?.at],
    ['first phone-home', a.phases[0]?.at],
    ['deployed', deployed.at],
  ];
  const known = marks.filter((m): m is [string, number] => m[1] !== undefined);
  return known.slice(1).map(([name, at], i) => `${known[i]![0]} → ${name}: ${seconds(at - known[i]![1])}`);
}

/** One event as a line: source kind outcome, and its detail. */
export function describeEvent(event: BootEvent): string {
  const detail = Object.entries(event.detail)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
  return `${event.source} ${event.kind} ${event.outcome}${detail ? ` (${detail})` : ''}`;
}

function percent(event: BootEvent): string {
  const sent = Number(event.detail.bytes ?? 0);
  const total = Number(event.detail.total ?? 0);
  return total > 0 ? `${Math.floor((sent / total) * 100)} % (${sent} of ${total} bytes)` : `${sent} bytes`;
}

function last(events: readonly BootEvent[], match: (e: BootEvent) => boolean): BootEvent | undefined {
  return events.findLast(match);
}

function first(events: readonly BootEvent[], match: (e: BootEvent) => boolean): BootEvent | undefined {
  return events.find(match);
}

function lastAt(a: Attempt): number {
  return Math.max(a.events.at(-1)?.at ?? 0, a.phases.at(-1)?.at ?? 0);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;
const ago = (now: number, at: number) => `${seconds(now - at)} ago`;
