/**
 * Full-mode DHCP: the lease state machine (pure: no sockets, no SQL, no
 * timers; the caller passes the time). It answers DHCPDISCOVER, DHCPREQUEST,
 * DHCPDECLINE, DHCPRELEASE and DHCPINFORM from its in-memory LeaseBook.
 *
 * The store, not this book, has the last word on who holds an address
 * (several instances may share one database). So a decision that needs the
 * store is a step that names what to ask it (claim a lease, look up a client's
 * stored lease) and what to do with its answer; the socket edge (server.ts)
 * asks the store and carries on until the step is an answer.
 */
import type { BootAnswer } from './boot-decision.js';
import { ipToNumber, MessageType, type ClientRequest, type DhcpPacket } from './codec.js';
import type { ClaimOutcome, LeaseClaim, Reservation } from '../store/dhcp-leases-repo.js';
import { LeaseBook, type Lease } from './leases.js';
import { ZERO_IP, type Answer, type NetworkOptions, type ReplySpec } from './replies.js';
import { judgeRequest, requestedAddress, requestState, type RequestState } from './request-rules.js';
import { describeConflict, usableReservations } from './reservations.js';

export interface DhcpPoolOptions {
  start: string;
  end: string;
  subnetMask: string;
  router?: string;
  dns?: string[];
  domain?: string;
  leaseSeconds: number;
}

export const DEFAULT_OFFER_HOLD_SECONDS = 5;
const DECLINE_QUARANTINE_MS = 10 * 60_000;
/** Offers tried per DISCOVER when the store says another instance holds the chosen address. */
const OFFER_ATTEMPTS = 8;

/** A line for the operator's log (the edge writes it). */
export interface Warning {
  fields: Record<string, unknown>;
  text: string;
}

/**
 * Where a decision stands: answered, or waiting for the store. `then` goes on
 * with the store's answer and returns the next step (a DISCOVER whose address
 * another instance holds tries another one).
 */
export type Step = { warnings?: Warning[] } & (
  | { answer: Answer }
  | { claim: LeaseClaim; then: (outcome: ClaimOutcome) => Step }
  | { lookup: string; then: (stored: Lease | undefined) => Step }
);

export interface FullModeSettings {
  serverIp: string;
  pool: DhcpPoolOptions;
  /** NAK an INIT-REBOOT from a client this server has no record of (RFC 2131 4.3.2); false: stay silent. */
  authoritative: boolean;
  /** How long an offer holds its address against other offers. */
  offerHoldSeconds: number;
  /** The boot file a client gets with its address, if any (boot-decision.ts). */
  bootFor: (client: ClientRequest) => BootAnswer | undefined;
}

/** A DHCPREQUEST as RFC 2131 4.3.2 reads it: the client's state and the address it asks for. */
interface AskedAddress {
  packet: DhcpPacket;
  client: ClientRequest;
  mac: string;
  state: RequestState;
  ip: string;
}

export class FullMode {
  private readonly book: LeaseBook;
  private readonly network: NetworkOptions;
  private hostnames = new Map<string, string | null>();
  /** Warnings given so far: each once per distinct text, not once per refresh or per DISCOVER. */
  private readonly warned = new Set<string>();

  constructor(
    private readonly settings: FullModeSettings,
    leases: Lease[],
  ) {
    const { pool, serverIp } = settings;
    this.book = new LeaseBook(
      { start: pool.start, end: pool.end, excluded: [serverIp, ...(pool.router ? [pool.router] : [])] },
      { offerHoldMs: settings.offerHoldSeconds * 1000, declineQuarantineMs: DECLINE_QUARANTINE_MS },
      leases,
    );
    this.network = { subnetMask: pool.subnetMask, router: pool.router, dns: pool.dns, domain: pool.domain };
  }

  /** Takes the nodes table's reservations (MAC → address); warns of those it cannot hand out. */
  setReservations(stored: Map<string, Reservation>): Warning[] {
    this.hostnames = new Map([...stored].map(([mac, { hostname }]) => [mac, hostname]));
    const addresses = new Map([...stored].map(([mac, { ip }]) => [mac, ip]));
    const { serverIp, pool } = this.settings;
    const { usable, skipped } = usableReservations(addresses, { serverIp, pool });
    this.book.setReservations(usable);
    return skipped.flatMap(({ mac, ip, reason }) =>
      this.once({ mac, ip }, `dhcp reservation of ${mac} skipped: ${reason}; it gets a pool address`),
    );
  }

  /** What to do with a request from an Ethernet client (client.mac set). */
  decide(packet: DhcpPacket, client: ClientRequest, now: number): Step {
    const mac = client.mac!;
    if (packet.giaddr !== ZERO_IP && !this.inSubnet(packet.giaddr)) return ignore('relay from a subnet without a pool');
    switch (client.messageType) {
      case MessageType.DISCOVER:
        return this.discover(client, mac, now, OFFER_ATTEMPTS);
      case MessageType.REQUEST:
        return this.request(packet, client, mac, now);
      case MessageType.DECLINE:
        return this.decline(client, mac, now);
      case MessageType.RELEASE:
        return this.release(packet, mac, now);
      case MessageType.INFORM:
        // RFC 2131 3.4: configuration only, no address and no lease time.
        return {
          answer: {
            ...this.base(MessageType.ACK),
            ciaddr: packet.ciaddr,
            network: this.network,
            boot: this.settings.bootFor(client),
          },
        };
      default:
        return ignore('unexpected message type');
    }
  }

  /**
   * The offer is held in the store before it is sent, so another instance on
   * the same database does not offer it too; when the store says someone
   * else holds the address (or this client holds another one), the book
   * learns it and chooses again.
   */
  private discover(client: ClientRequest, mac: string, now: number, attemptsLeft: number): Step {
    if (attemptsLeft === 0) return ignore('every address tried is held by another instance');
    const lease = this.book.offer(mac, client.requestedIp, now);
    if (!lease) return ignore('pool exhausted');
    return {
      warnings: this.reservationBlocked(mac, now),
      claim: { lease, offer: true },
      then: (claimed: ClaimOutcome) => {
        if (claimed.ok) return { answer: this.leaseReply(MessageType.OFFER, client, lease) };
        this.book.remember(claimed.holder);
        return this.discover(client, mac, now, attemptsLeft - 1);
      },
    };
  }

  /** dnsmasq's "not using configured address ... leased to ...": never silence for a reserved node. */
  private reservationBlocked(mac: string, now: number): Warning[] {
    const blocker = this.book.reservationBlocker(mac, now);
    if (!blocker) return [];
    const conflict = { mac, ip: blocker.ip, holder: blocker.mac };
    return this.once(conflict, `dhcp ${describeConflict(conflict)}`);
  }

  /** RFC 2131 4.3.2: SELECTING (server id), INIT-REBOOT (option 50 only) or RENEWING/REBINDING (ciaddr). */
  private request(packet: DhcpPacket, client: ClientRequest, mac: string, now: number): Step {
    const state = requestState(packet, client);
    if (state === null) return ignore('REQUEST without an address');
    if (state === 'selecting' && client.serverId !== this.settings.serverIp)
      return ignore('client chose another server');
    const ip = requestedAddress(packet, client, state);
    if (!ip) return ignore('REQUEST without an address');
    const asked = { packet, client, mac, state, ip };
    const reserved = this.book.reservedAddress(mac, now);
    if (reserved !== undefined) return this.bind(asked, reserved, now);
    return this.recordedLease(mac, state, (lease) => this.bind(asked, lease?.ip, now));
  }

  /**
   * The client's lease: this book's, or for an INIT-REBOOT the store's (another
   * instance on the same database may have bound it), so that whether we know
   * the client never depends on which instance heard it first.
   */
  private recordedLease(mac: string, state: RequestState, next: (lease: Lease | undefined) => Step): Step {
    const known = this.book.leaseOf(mac);
    if (known || state !== 'init-reboot') return next(known);
    return {
      lookup: mac,
      then: (stored: Lease | undefined) => {
        if (stored) this.book.remember(stored);
        return next(stored);
      },
    };
  }

  /** Binds the address when RFC 2131 and the book allow it; the ACK waits for the store's claim. */
  private bind(asked: AskedAddress, recorded: string | undefined, now: number): Step {
    const { packet, client, mac, state, ip } = asked;
    const verdict = judgeRequest({
      state,
      ip,
      onSubnet: this.inSubnet(ip),
      recorded,
      authoritative: this.settings.authoritative,
    });
    if (verdict.action === 'silent') return ignore(verdict.reason);
    if (verdict.action === 'nak') return this.nak(verdict.reason);
    const details = { hostname: client.hostname ?? null, clientId: client.clientId?.toString('hex') ?? null };
    const outcome = this.book.request(mac, ip, this.settings.pool.leaseSeconds * 1000, now, details);
    if (!outcome.ok) return this.nak(outcome.reason);
    // The ACK goes out only once the lease is on disk: an acknowledged lease survives a crash.
    // The store has the last word: another instance may hold the address.
    return {
      claim: { lease: outcome.lease },
      then: (claimed: ClaimOutcome) => {
        if (!claimed.ok) {
          this.book.remember(claimed.holder);
          return this.nak(`address ${ip} is in use`);
        }
        // RFC 2131 table 3: an ACK to RENEWING/REBINDING carries ciaddr back.
        const ciaddr = state === 'renewing' ? packet.ciaddr : undefined;
        return { answer: { ...this.leaseReply(MessageType.ACK, client, outcome.lease), ciaddr } };
      },
    };
  }

  /** RFC 2131 3.1.5: the client found the address in use; it is quarantined, and no reply is sent. */
  private decline(client: ClientRequest, mac: string, now: number): Step {
    const done: Step = {
      warnings: [{ fields: { mac, ip: client.requestedIp }, text: 'dhcp address declined: another host uses it' }],
      answer: { ignored: 'DECLINE needs no reply' },
    };
    const quarantined = client.requestedIp ? this.book.decline(mac, client.requestedIp, now) : null;
    return quarantined ? { claim: { lease: quarantined, replaces: mac }, then: () => done } : done;
  }

  /** RFC 2131 4.4.6: the client gives its address back; no reply is sent. */
  private release(packet: DhcpPacket, mac: string, now: number): Step {
    const done = ignore('RELEASE needs no reply');
    const released = this.book.release(mac, packet.ciaddr, now);
    return released ? { claim: { lease: released }, then: () => done } : done;
  }

  private base(messageType: number): ReplySpec {
    return { messageType, serverId: this.settings.serverIp };
  }

  private leaseReply(messageType: number, client: ClientRequest, lease: Lease): ReplySpec {
    return {
      ...this.base(messageType),
      yiaddr: lease.ip,
      leaseSeconds: this.settings.pool.leaseSeconds,
      network: this.network,
      hostname: this.hostnames.get(lease.mac) ?? undefined,
      boot: this.settings.bootFor(client),
    };
  }

  private nak(message: string): Step {
    return { answer: { ...this.base(MessageType.NAK), message } };
  }

  private inSubnet(ip: string): boolean {
    return sameSubnet(ip, this.settings.pool.start, this.settings.pool.subnetMask);
  }

  /** The warning, unless the same text was given before. */
  private once(fields: Record<string, unknown>, text: string): Warning[] {
    if (this.warned.has(text)) return [];
    this.warned.add(text);
    return [{ fields, text }];
  }
}

function ignore(reason: string): Step {
  return { answer: { ignored: reason } };
}

function sameSubnet(a: string, b: string, mask: string): boolean {
  const m = ipToNumber(mask);
  return (ipToNumber(a) & m) >>> 0 === (ipToNumber(b) & m) >>> 0;
}
