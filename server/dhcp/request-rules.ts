/**
 * RFC 2131 4.3.2: what a DHCPREQUEST is, and whether the server may answer it
 * (pure). The lease book then says whether the client may have the address.
 *
 * Leases are keyed on chaddr (the MAC), not on the client identifier (61):
 * PXE firmware sends no 61, iPXE sends none or 01+MAC, and the installed OS
 * may send a DUID (systemd-networkd) or nothing; reservations come from the
 * nodes table, which knows machines by MAC. Keying on the MAC keeps a node on
 * its address across all of them. The identifier is stored with the lease
 * and echoed (RFC 6842), but it never moves a lease to another MAC. Kea and
 * dnsmasq prefer 61 when sent; on a boot network the MAC is the identity.
 */
import type { ClientRequest, DhcpPacket } from './codec.js';
import { ZERO_IP } from './replies.js';

/** RENEWING (unicast) and REBINDING (broadcast) look alike on the wire and are answered alike. */
export type RequestState = 'selecting' | 'init-reboot' | 'renewing';

export function requestState(packet: DhcpPacket, client: ClientRequest): RequestState | null {
  if (client.serverId !== undefined) return 'selecting';
  if (packet.ciaddr !== ZERO_IP) return 'renewing';
  if (client.requestedIp !== undefined) return 'init-reboot';
  return null;
}

/** The address a REQUEST asks for: option 50 when selecting or rebooting, ciaddr when renewing. */
export function requestedAddress(packet: DhcpPacket, client: ClientRequest, state: RequestState): string | undefined {
  return state === 'renewing' ? packet.ciaddr : client.requestedIp;
}

export interface RequestFacts {
  state: RequestState;
  ip: string;
  /** The address is on the pool's subnet. */
  onSubnet: boolean;
  /** The address this server has on record for the client (its lease or its reservation), if any. */
  recorded: string | undefined;
  /** dhcp.authoritative: this server owns the segment, so it NAKs what it does not know. */
  authoritative: boolean;
}

export type RequestVerdict =
  { action: 'bind' } | { action: 'nak'; reason: string } | { action: 'silent'; reason: string };

/**
 * - a wrong-subnet address is always NAKed (the client moved networks and must start over);
 * - INIT-REBOOT from a client with no record: silent unless authoritative (another
 *   server on the segment may know it: NAKing would break its lease);
 * - INIT-REBOOT for another address than the recorded one: NAK;
 * - otherwise the lease book decides (bind, or NAK when someone else holds it).
 */
export function judgeRequest(f: RequestFacts): RequestVerdict {
  if (!f.onSubnet) return { action: 'nak', reason: `${f.ip} is not on this network` };
  if (f.state !== 'init-reboot') return { action: 'bind' };
  if (f.recorded === undefined) {
    return f.authoritative
      ? { action: 'nak', reason: `no record of this client (authoritative)` }
      : { action: 'silent', reason: 'INIT-REBOOT from a client this server has no record of' };
  }
  if (f.recorded !== f.ip) return { action: 'nak', reason: `${f.ip} is not this client's address (${f.recorded} is)` };
  return { action: 'bind' };
}
