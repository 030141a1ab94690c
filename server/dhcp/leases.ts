/**
 * Address allocation for full DHCP mode (pure: the caller passes the time and
 * persists what changed). One in-memory book of leases, indexed by MAC and by
 * address, so that one address never belongs to two clients.
 */
import type { Lease, OfferedLease } from '../store/dhcp-leases-repo.js';
import { ipToNumber, numberToIp } from './codec.js';

// The lease row types belong to the store (it may import nothing of dhcp/); the DHCP code takes them from here.
export type { Lease, LeaseState, OfferedLease } from '../store/dhcp-leases-repo.js';

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

  /**
   * DISCOVER: choose an address and hold it briefly for the client; null when
   * every address is bound or quarantined. When no address is free, the
   * oldest offer to another client gives way (`preempts` names it): an offer
   * is a soft hold, so a flood of DISCOVERs from made-up MACs can take the
   * pool's free addresses for offerHoldMs at most and never lock real clients out.
   */
  offer(mac: string, requestedIp: string | undefined, now: number): OfferedLease | null {
    const choice = this.chooseAddress(mac, requestedIp, now);
    if (choice === null) return null;
    const ip = choice.ip;
    const current = this.byMac.get(mac);
    // A bound lease being re-offered keeps its state and expiry: an offer never shortens a lease.
    if (current && current.ip === ip && current.state === 'bound' && current.expiresAt > now) return current;
    const lease = this.put({ ...current, mac, ip, state: 'offered', expiresAt: now + this.timings.offerHoldMs });
    return choice.preempts ? { ...lease, preempts: choice.preempts } : lease;
  }

  /** mac's reserved address, when it can be honoured now. */
  reservedAddress(mac: string, now: number): string | undefined {
    return this.reservationBlocker(mac, now) ? undefined : this.reservedByMac.get(mac);
  }

  /** The live lease of another MAC on mac's reserved address: the reservation cannot be honoured while it lasts. */
  reservationBlocker(mac: string, now: number): Lease | undefined {
    const reserved = this.reservedByMac.get(mac);
    const holder = reserved === undefined ? undefined : this.byIp.get(reserved);
    return holder && holder.mac !== mac && holder.state === 'bound' && this.isHeld(holder, now) ? holder : undefined;
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

  /**
   * True when ip is in the pool or reserved for this mac, and nobody else holds
   * it. For an offer, other clients' offers hold too; a REQUEST beats an offer
   * (bound leases and quarantined addresses still hold). A node whose reserved
   * address another MAC is bound to gets pool rules until that lease ends.
   */
  mayHave(mac: string, ip: string, now: number, purpose: 'offer' | 'bind' = 'bind'): boolean {
    const reserved = this.reservedByMac.get(mac);
    if (reserved !== undefined && !this.reservationBlocker(mac, now)) return reserved === ip;
    if (!this.inPool(ip) || this.reservedIps.has(ip) || this.excluded.has(ip)) return false;
    const holder = this.byIp.get(ip);
    if (!holder || holder.mac === mac || !this.isHeld(holder, now)) return true;
    return purpose === 'bind' && holder.state === 'offered';
  }

  private chooseAddress(
    mac: string,
    requestedIp: string | undefined,
    now: number,
  ): { ip: string; preempts?: string } | null {
    const reserved = this.reservedByMac.get(mac);
    if (reserved !== undefined && !this.reservationBlocker(mac, now)) {
      // A reservation beats another client's offer (made before the reservation was read, or by another instance).
      const holder = this.byIp.get(reserved);
      return holder && holder.mac !== mac && holder.state === 'offered' && this.isHeld(holder, now)
        ? { ip: reserved, preempts: holder.mac }
        : { ip: reserved };
    }
    const current = this.byMac.get(mac);
    if (current && this.mayHave(mac, current.ip, now, 'offer')) return { ip: current.ip };
    if (requestedIp && this.mayHave(mac, requestedIp, now, 'offer')) return { ip: requestedIp };
    const free = this.findFree(mac, now);
    if (free !== null) return { ip: free };
    const oldest = this.oldestOfferToOthers(mac, now);
    return oldest ? { ip: oldest.ip, preempts: oldest.mac } : null;
  }

  /** Never-used addresses first, then the one that has been free the longest. */
  private findFree(mac: string, now: number): string | null {
    for (let step = 0; step < this.size; step++) {
      const ip = numberToIp(this.first + ((this.cursor + step) % this.size));
      if (!this.byIp.has(ip) && this.mayHave(mac, ip, now, 'offer')) {
        this.cursor = (this.cursor + step + 1) % this.size;
        return ip;
      }
    }
    let oldest: Lease | undefined;
    for (const lease of this.byIp.values()) {
      if (this.mayHave(mac, lease.ip, now, 'offer') && (!oldest || lease.expiresAt < oldest.expiresAt)) oldest = lease;
    }
    return oldest?.ip ?? null;
  }

  private oldestOfferToOthers(mac: string, now: number): Lease | undefined {
    let oldest: Lease | undefined;
    for (const lease of this.byIp.values()) {
      if (lease.state !== 'offered' || lease.mac === mac || !this.mayHave(mac, lease.ip, now, 'bind')) continue;
      if (!oldest || lease.expiresAt < oldest.expiresAt) oldest = lease;
    }
    return oldest;
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
