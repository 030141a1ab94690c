/**
 * Address allocation for full DHCP mode (pure: the caller passes the time and
 * persists what changed). One in-memory book of leases, indexed by MAC and by
 * address, so that one address never belongs to two clients.
 */
import { ipToNumber, numberToIp } from './codec';

export type LeaseState = 'offered' | 'bound' | 'declined' | 'released';

export interface Lease {
  mac: string;
  ip: string;
  state: LeaseState;
  /** ms since the epoch */
  expiresAt: number;
  hostname?: string | null;
  clientId?: string | null;
}

export interface PoolRange {
  start: string;
  end: string;
  /** Addresses inside the range that are never handed out (the server's own, a router). */
  excluded?: string[];
}

export interface LeaseTimings {
  /** How long an offer holds an address for its client. */
  offerHoldMs: number;
  /** How long a declined address stays out of the pool (RFC 2131 3.1.5: another host uses it). */
  declineQuarantineMs: number;
}

export type RequestOutcome = { ok: true; lease: Lease } | { ok: false; reason: string };

/**
 * The table's mac column is unique, so a declined address cannot stay under the
 * declining client's MAC once that client gets another address. It is filed
 * under a placeholder MAC derived from the address ("de:c1:" + 4 address bytes).
 */
export function declinedPlaceholderMac(ip: string): string {
  const hex = ipToNumber(ip).toString(16).padStart(8, '0');
  return `de:c1:${hex.match(/../g)!.join(':')}`;
}

export class LeaseBook {
  private readonly byMac = new Map<string, Lease>();
  private readonly byIp = new Map<string, Lease>();
  /** Reserved address per MAC, and the reverse, from the nodes table. */
  private reservedByMac = new Map<string, string>();
  private reservedIps = new Set<string>();
  private readonly first: number;
  private readonly size: number;
  private readonly excluded: Set<string>;
  /** Where the next search for a never-used address starts; keeps allocation O(1) on average. */
  private cursor = 0;

  constructor(
    pool: PoolRange,
    private readonly timings: LeaseTimings,
    existing: Lease[] = [],
  ) {
    this.first = ipToNumber(pool.start);
    this.size = ipToNumber(pool.end) - this.first + 1;
    if (this.size < 1) throw new Error(`empty pool ${pool.start}-${pool.end}`);
    this.excluded = new Set(pool.excluded ?? []);
    for (const lease of existing) this.put(lease);
  }

  setReservations(reservations: Map<string, string>): void {
    this.reservedByMac = new Map(reservations);
    this.reservedIps = new Set(reservations.values());
  }

  leaseOf(mac: string): Lease | undefined {
    return this.byMac.get(mac);
  }

  /** DISCOVER: choose an address and hold it for the client; null when the pool is exhausted. */
  offer(mac: string, requestedIp: string | undefined, now: number): Lease | null {
    const ip = this.chooseAddress(mac, requestedIp, now);
    if (ip === null) return null;
    const current = this.byMac.get(mac);
    // A bound lease being re-offered keeps its state and expiry: an offer never shortens a lease.
    if (current && current.ip === ip && current.state === 'bound' && current.expiresAt > now) return current;
    return this.put({ ...current, mac, ip, state: 'offered', expiresAt: now + this.timings.offerHoldMs });
  }

  /** REQUEST: bind the address if this client may have it, else the caller NAKs. */
  request(mac: string, ip: string, leaseMs: number, now: number, details: Partial<Lease> = {}): RequestOutcome {
    if (!this.mayHave(mac, ip, now)) return { ok: false, reason: `address ${ip} is not available to ${mac}` };
    const lease = this.put({ ...this.byMac.get(mac), ...details, mac, ip, state: 'bound', expiresAt: now + leaseMs });
    return { ok: true, lease };
  }

  /** DECLINE: the client found the address in use; quarantine it. Returns the quarantine record. */
  decline(mac: string, ip: string, now: number): Lease | null {
    const current = this.byMac.get(mac);
    if (!current || current.ip !== ip) return null;
    this.byMac.delete(mac);
    const placeholder = declinedPlaceholderMac(ip);
    return this.put({ mac: placeholder, ip, state: 'declined', expiresAt: now + this.timings.declineQuarantineMs });
  }

  /** RELEASE: the address is free again, but remembered so the client gets it back next time. */
  release(mac: string, ip: string, now: number): Lease | null {
    const current = this.byMac.get(mac);
    if (!current || current.ip !== ip) return null;
    return this.put({ ...current, state: 'released', expiresAt: now });
  }

  /** True when ip is in the pool or reserved for this mac, and nobody else holds it. */
  mayHave(mac: string, ip: string, now: number): boolean {
    const reserved = this.reservedByMac.get(mac);
    if (reserved !== undefined) return reserved === ip;
    if (!this.inPool(ip) || this.reservedIps.has(ip) || this.excluded.has(ip)) return false;
    const holder = this.byIp.get(ip);
    return !holder || holder.mac === mac || !this.isHeld(holder, now);
  }

  private chooseAddress(mac: string, requestedIp: string | undefined, now: number): string | null {
    const reserved = this.reservedByMac.get(mac);
    if (reserved !== undefined) return reserved;
    const current = this.byMac.get(mac);
    if (current && this.mayHave(mac, current.ip, now)) return current.ip;
    if (requestedIp && this.mayHave(mac, requestedIp, now)) return requestedIp;
    return this.findFree(mac, now);
  }

  /** Never-used addresses first, then the one that has been free the longest. */
  private findFree(mac: string, now: number): string | null {
    for (let step = 0; step < this.size; step++) {
      const ip = numberToIp(this.first + ((this.cursor + step) % this.size));
      if (!this.byIp.has(ip) && this.mayHave(mac, ip, now)) {
        this.cursor = (this.cursor + step + 1) % this.size;
        return ip;
      }
    }
    let oldest: Lease | undefined;
    for (const lease of this.byIp.values()) {
      if (this.mayHave(mac, lease.ip, now) && (!oldest || lease.expiresAt < oldest.expiresAt)) oldest = lease;
    }
    return oldest?.ip ?? null;
  }

  /** Bound and offered leases hold their address until they expire; declined ones until quarantine ends. */
  private isHeld(lease: Lease, now: number): boolean {
    return lease.state !== 'released' && lease.expiresAt > now;
  }

  private inPool(ip: string): boolean {
    const offset = ipToNumber(ip) - this.first;
    return offset >= 0 && offset < this.size;
  }

  /** Takes in a lease the store knows of and this book did not (another instance's, or from before a restart). */
  remember(lease: Lease): void {
    this.put(lease);
  }

  /** Stores a lease, evicting any other record for the same MAC or address (mirrors the table's unique keys). */
  private put(lease: Lease): Lease {
    const sameMac = this.byMac.get(lease.mac);
    if (sameMac && sameMac.ip !== lease.ip) this.byIp.delete(sameMac.ip);
    const sameIp = this.byIp.get(lease.ip);
    if (sameIp && sameIp.mac !== lease.mac) this.byMac.delete(sameIp.mac);
    this.byMac.set(lease.mac, lease);
    this.byIp.set(lease.ip, lease);
    return lease;
  }
}
