/**
 * Which stored node addresses full-mode DHCP can hand out as reservations (pure).
 * A reservation comes from the nodes table (an admin, an import, or a node's
 * own phone-home), so it is checked before use: one that is the router, the
 * server, the subnet's network or broadcast address, off the pool's subnet,
 * or not IPv4 at all is skipped with a warning and the node gets a pool address.
 */
import { ipToNumber, isIpv4 } from './codec.js';

export interface ReservationNetwork {
  serverIp?: string;
  pool?: { start: string; subnetMask: string; router?: string };
}

/** A human reason why ip cannot be reserved on this network, or null when it can. */
export function reservationProblem(ip: string, dhcp: ReservationNetwork): string | null {
  if (!isIpv4(ip)) return `${ip} is not an IPv4 address (DHCPv4 cannot hand it out)`;
  if (!dhcp.pool) return null;
  const mask = ipToNumber(dhcp.pool.subnetMask);
  const network = (ipToNumber(dhcp.pool.start) & mask) >>> 0;
  const value = ipToNumber(ip);
  if ((value & mask) >>> 0 !== network)
    return `${ip} is not on the DHCP subnet ${dhcp.pool.start}/${dhcp.pool.subnetMask}`;
  if (ip === dhcp.serverIp) return `${ip} is homeport's own address (dhcp.serverIp)`;
  if (ip === dhcp.pool.router) return `${ip} is the router (dhcp.pool.router)`;
  if (value === network) return `${ip} is the subnet's network address`;
  if (value === (network | ~mask) >>> 0) return `${ip} is the subnet's broadcast address`;
  return null;
}

export interface SkippedReservation {
  mac: string;
  ip: string;
  reason: string;
}

/** Splits stored reservations (MAC → IP) into those DHCP hands out and those it skips, with the reason. */
export function usableReservations(
  reservations: Map<string, string>,
  dhcp: ReservationNetwork,
): { usable: Map<string, string>; skipped: SkippedReservation[] } {
  const usable = new Map<string, string>();
  const skipped: SkippedReservation[] = [];
  for (const [mac, ip] of reservations) {
    const reason = reservationProblem(ip, dhcp);
    if (reason) skipped.push({ mac, ip, reason });
    else usable.set(mac, ip);
  }
  return { usable, skipped };
}

export interface ReservationConflict {
  /** The node whose reserved address another MAC holds. */
  mac: string;
  ip: string;
  /** The MAC with a live lease on it. */
  holder: string;
}

export function describeConflict(c: ReservationConflict): string {
  return `reserved address ${c.ip} of ${c.mac} is leased to ${c.holder}: ${c.mac} gets a pool address until that lease ends`;
}

/** Reservations (MAC → IP) whose address a live bound lease of another MAC holds (for `homeport doctor`). */
export function findReservationConflicts(
  reservations: Map<string, string>,
  leases: { mac: string; ip: string; state: string; expiresAt: number }[],
  now: number,
): ReservationConflict[] {
  const live = new Map(leases.filter((l) => l.state === 'bound' && l.expiresAt > now).map((l) => [l.ip, l.mac]));
  const conflicts: ReservationConflict[] = [];
  for (const [mac, ip] of reservations) {
    const holder = live.get(ip);
    if (holder !== undefined && holder !== mac) conflicts.push({ mac, ip, holder });
  }
  return conflicts;
}
