import { LruMap } from '../util/lru.js';

/**
 * One history row per boot attempt for a machine's DHCP DISCOVERs (pure: the
 * caller hands in the time). Firmware repeats DISCOVER until it gets an
 * answer it likes (PXE ROMs at 4, 8, 16, 32 s; iPXE again after chain-
 * loading), which used to write one `dhcp_discover` row per packet. A
 * DISCOVER is recorded when the machine has none recorded yet, when
 * something else happened to the node since the last one (a new boot
 * attempt: iPXE script served, a phase reported), or when `windowMs` has
 * passed (a machine stuck in a DHCP loop still shows up, once per window).
 */
export class DiscoverCoalescer {
  /** MAC → when its last DISCOVER was recorded; bounded, so random MACs cannot fill memory. */
  private readonly recorded: LruMap<string, number>;

  constructor(
    readonly windowMs: number,
    maxMachines = 10_000,
  ) {
    this.recorded = new LruMap(maxMachines);
  }

  /** True when this DISCOVER starts a boot attempt and deserves a row; remembers it. */
  shouldRecord(mac: string, now: number): boolean {
    const last = this.recorded.get(mac);
    if (last !== undefined && now - last < this.windowMs) return false;
    this.recorded.set(mac, now);
    return true;
  }

  /**
   * The next DISCOVER is a new boot attempt: the node moved on (another
   * history event), or the row was not written (no such node).
   */
  reset(mac: string): void {
    this.recorded.set(mac, Number.NEGATIVE_INFINITY);
  }
}
