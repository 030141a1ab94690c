import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../log/logger.js';
import type { BootEventsRepo, NewBootEvent, SeenMac, StoredBootEvent } from '../store/boot-events-repo.js';
import { WriteBatcher } from '../store/write-batcher.js';
import { LruMap } from '../util/lru.js';
import { MacsByAddress } from './emitters.js';
import { boundDetail, boundedName, type BootEventInput } from './events.js';

export interface BootEventsOptions {
  maxEventsPerNode: number;
  maxAgeDays: number;
  seenLimit: number;
  /** Group-commit window (database.groupCommitMs). */
  windowMs?: number;
  /** Events queued for the database at most; beyond it new ones are dropped (and counted). */
  maxPending?: number;
}

/** The same event from the same MAC within this window is written once: DHCP clients retransmit. */
export const COALESCE_MS = 2_000;
const DEFAULT_MAX_PENDING = 10_000;
/** MACs whose last event is remembered for coalescing. */
const COALESCE_MACS = 4_096;

/**
 * The one writer of boot_events. Emitters at the protocol edges call
 * `record` and go on: the write is queued into a group commit and its
 * failure is logged, never thrown, so a boot never waits for or breaks on
 * its own timeline. What a stranger can make it queue is bounded too
 * (maxPending), and what it stores (per MAC, by age, unknown MACs) is
 * trimmed by the repository on every batch.
 */
export class BootEvents {
  private readonly batcher: WriteBatcher<NewBootEvent, void>;
  private readonly lastByMac = new LruMap<string, { key: string; at: number }>(COALESCE_MACS);
  private pending = 0;
  private dropped = 0;
  /** Which MAC an address is: TFTP and the entry script arrive by address only. */
  readonly addresses = new MacsByAddress();

  constructor(
    private readonly repo: BootEventsRepo,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly options: BootEventsOptions,
  ) {
    this.batcher = new WriteBatcher<NewBootEvent, void>(
      async (events) => {
        await repo.insertBatch(events, this.retention());
        return events.map(() => undefined);
      },
      { windowMs: options.windowMs },
    );
  }

  /** Queues an event; never throws, never waits. */
  record(input: BootEventInput): void {
    const at = this.clock();
    if (this.isRepeat(input, at)) return;
    if (this.pending >= (this.options.maxPending ?? DEFAULT_MAX_PENDING)) {
      if (this.dropped++ % 1000 === 0) this.log.warn({ dropped: this.dropped }, 'boot events: queue full, dropping');
      return;
    }
    this.pending++;
    const event: NewBootEvent = {
      mac: input.mac,
      at,
      source: input.source,
      kind: boundedName(input.kind),
      outcome: boundedName(input.outcome),
      detail: boundDetail(input.detail),
    };
    this.batcher
      .run(event)
      .catch((err: unknown) => this.log.warn({ err, mac: input.mac }, 'boot event not recorded'))
      .finally(() => this.pending--);
  }

  /** An event from an address, for the MAC last seen at it; an address never seen is not recorded. */
  recordFrom(address: string, event: (mac: string) => BootEventInput): void {
    const mac = this.addresses.macOf(address);
    if (mac) this.record(event(mac));
  }

  /** A MAC's stored events, oldest first. */
  forMac(mac: string): Promise<StoredBootEvent[]> {
    return this.repo.forMac(mac, this.options.maxEventsPerNode);
  }

  /** Unknown MACs, most recently seen first. */
  seen(): Promise<SeenMac[]> {
    return this.repo.seen(this.options.seenLimit);
  }

  /** Waits until every queued event is committed (shutdown, tests). */
  flush(): Promise<void> {
    return this.batcher.flush();
  }

  private retention() {
    return {
      maxPerMac: this.options.maxEventsPerNode,
      olderThan: this.clock() - this.options.maxAgeDays * 86_400_000,
      seenLimit: this.options.seenLimit,
    };
  }

  private isRepeat(input: BootEventInput, at: number): boolean {
    const key = JSON.stringify([input.source, input.kind, input.outcome, input.detail ?? {}]);
    const last = this.lastByMac.get(input.mac);
    this.lastByMac.set(input.mac, { key, at });
    return last?.key === key && at - last.at < COALESCE_MS;
  }
}
