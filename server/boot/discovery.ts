import type { Logger } from '../log/logger.js';
import type { Clock } from '../kernel/clock.js';
import type { NodesService } from '../nodes/service.js';
import type { DiscoveriesRepo } from '../store/discoveries-repo.js';

/**
 * Bounded discovery (issue 17). Anyone on the boot network can ask for
 * `/boot/<any MAC>.ipxe`; under `boot.unknown: discover` each new MAC used to
 * add a node row, without bound. Now:
 * - at most `boot.discoverLimit` open discoveries exist; past it an unknown
 *   machine is told so (a wait script) and nothing is written;
 * - an open discovery that never phoned home expires after
 *   `boot.discoverTtlHours`.
 * An open discovery is a node homeport registered by itself (status
 * `discovered`) that no admin has given a profile or cluster; phone-home
 * register moves a node out of `discovered`.
 */

export type DiscoveryVerdict = { admit: true } | { admit: false; reason: string };

/** Pure: may one more unknown machine be registered? */
export function discoveryVerdict(open: number, limit: number): DiscoveryVerdict {
  if (open < limit) return { admit: true };
  return {
    admit: false,
    reason: `${open} discovered machines already wait for an admin (boot.discoverLimit ${limit}); nothing is registered for this one: ask an admin to add its MAC`,
  };
}

/** Pure: nodes registered before this time have had their discoverTtlHours. */
export function expiryCutoff(now: number, ttlHours: number): number {
  return now - ttlHours * 3600_000;
}

/**
 * Admits discoveries one at a time: the count and the insert it allows are
 * not interleaved with another request's, so concurrent unknown machines
 * cannot overshoot the cap (within one instance; instances sharing a
 * PostgreSQL may each add one past it at the same instant).
 */
export class DiscoveryGate {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly discoveries: Pick<DiscoveriesRepo, 'countOpen'>,
    readonly limit: number,
  ) {}

  admit<T>(register: () => Promise<T>): Promise<Admission<T>> {
    const turn = this.queue.then(async () => {
      const verdict = discoveryVerdict(await this.discoveries.countOpen(), this.limit);
      if (!verdict.admit) return { ok: false as const, reason: verdict.reason };
      return { ok: true as const, value: await register() };
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }
}

export type Admission<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Through the gate when there is one (BootService built without a cap registers every machine). */
export function admitDiscovery<T>(gate: DiscoveryGate | undefined, register: () => Promise<T>): Promise<Admission<T>> {
  return gate ? gate.admit(register) : register().then((value) => ({ ok: true, value }));
}

/** Deletes open discoveries older than the TTL that never phoned home, with their history. Returns their ids. */
export function expireDiscoveries(discoveries: DiscoveriesRepo, now: number, ttlHours: number): Promise<number[]> {
  return discoveries.deleteUnreportedBefore(expiryCutoff(now, ttlHours));
}

export interface DiscoverySweep {
  /** One sweep now (also what the timer runs). */
  run(): Promise<number[]>;
  close(): void;
}

/** Sweeps expired discoveries at start and then every intervalMs; deletions reach the status page as node_deleted events. */
export function startDiscoverySweep(o: {
  nodes: Pick<NodesService, 'expireDiscoveries'>;
  ttlHours: number;
  intervalMs: number;
  clock: Clock;
  log: Logger;
}): DiscoverySweep {
  const run = async () => {
    const ids = await o.nodes.expireDiscoveries(expiryCutoff(o.clock(), o.ttlHours));
    if (ids.length)
      o.log.info({ expired: ids.length, ttlHours: o.ttlHours }, 'expired discovered machines that never phoned home');
    return ids;
  };
  const safeRun = () => run().catch((err: unknown) => o.log.warn({ err }, 'discovery sweep failed'));
  void safeRun();
  const timer = setInterval(safeRun, o.intervalMs);
  timer.unref();
  return { run, close: () => clearInterval(timer) };
}
