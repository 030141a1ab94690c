/**
 * Building reply packets and choosing where they go (pure).
 */
import type { BootAnswer } from './boot-decision.js';
import {
  BOOTREPLY,
  BROADCAST_FLAG,
  decodeValue,
  encodedLength,
  encodeValue,
  MessageType,
  Option,
  type ClientRequest,
  type DhcpPacket,
} from './codec.js';

export const ZERO_IP = '0.0.0.0';
export const BROADCAST_IP = '255.255.255.255';
export const CLIENT_PORT = 68;
export const SERVER_PORT = 67;

/** PXE option 43 sub-option 6 (discovery control) = 8: skip boot server discovery, boot the file named here. */
const PXE_BOOT_FROM_FILE = new Map([[6, Buffer.from([8])]]);

export interface NetworkOptions {
  subnetMask: string;
  router?: string;
  dns?: string[];
  domain?: string;
}

export interface ReplySpec {
  messageType: number;
  serverId: string;
  yiaddr?: string;
  /** RFC 2131 table 3: an ACK to INFORM, RENEWING or REBINDING carries the client's ciaddr back; 0 otherwise. */
  ciaddr?: string;
  leaseSeconds?: number;
  network?: NetworkOptions;
  hostname?: string;
  boot?: BootAnswer;
  message?: string;
}

/** What a request gets: a reply to build, or the reason it gets none. */
export type Answer = ReplySpec | { ignored: string };

export function buildReply(request: DhcpPacket, client: ClientRequest, spec: ReplySpec): DhcpPacket {
  const options = new Map<number, Buffer>();
  options.set(Option.MESSAGE_TYPE, encodeValue.u8(spec.messageType));
  options.set(Option.SERVER_ID, encodeValue.ip(spec.serverId));
  if (spec.leaseSeconds !== undefined) addLeaseTimes(options, spec.leaseSeconds);
  if (spec.network) addNetworkOptions(options, spec.network);
  if (spec.hostname) options.set(Option.HOSTNAME, encodeValue.text(spec.hostname));
  if (spec.message) options.set(Option.MESSAGE, encodeValue.text(spec.message));

  const reply: DhcpPacket = {
    op: BOOTREPLY,
    htype: request.htype,
    hlen: request.hlen,
    hops: 0,
    xid: request.xid,
    secs: 0,
    // RFC 2131 4.3.2: a NAK through a relay asks the relay to broadcast it.
    flags:
      spec.messageType === MessageType.NAK && request.giaddr !== ZERO_IP
        ? request.flags | BROADCAST_FLAG
        : request.flags,
    ciaddr: spec.ciaddr ?? ZERO_IP,
    yiaddr: spec.yiaddr ?? ZERO_IP,
    siaddr: ZERO_IP,
    giaddr: request.giaddr,
    chaddr: request.chaddr,
    sname: '',
    file: '',
    options,
  };
  if (spec.boot) addBootInfo(reply, client, spec.boot);
  addEchoedOptions(request, options);
  return fitToSize(reply, maxReplyBytes(request));
}

/**
 * RFC 6842: the client identifier comes back as sent. RFC 3046 2.2: a relay's
 * agent information comes back verbatim, and last, in a reply to a relayed
 * request only; a direct request carrying 82 is a client forging it (3046 2.1:
 * the relay adds it), and a reply never gets one it did not ask for.
 */
function addEchoedOptions(request: DhcpPacket, options: Map<number, Buffer>): void {
  const clientId = request.options.get(Option.CLIENT_ID);
  if (clientId) options.set(Option.CLIENT_ID, clientId);
  const agentInfo = request.options.get(Option.RELAY_AGENT_INFO);
  if (agentInfo && request.giaddr !== ZERO_IP) options.set(Option.RELAY_AGENT_INFO, agentInfo);
}

/** RFC 2131 2 and 4.1: a client accepts a 576-byte IP datagram; option 57 may say more (never less: 576 is its minimum legal value). */
const MIN_DATAGRAM = 576;
const IP_UDP_HEADERS = 28;

export function maxReplyBytes(request: DhcpPacket): number {
  const raw = request.options.get(Option.MAX_MESSAGE_SIZE);
  const asked = raw ? decodeValue.u16(raw) : undefined;
  return Math.max(asked ?? MIN_DATAGRAM, MIN_DATAGRAM) - IP_UDP_HEADERS;
}

/** What a reply keeps however small the client's limit: without these it means nothing, or breaks a relay. */
const ESSENTIAL_OPTIONS: ReadonlySet<number> = new Set([
  Option.MESSAGE_TYPE,
  Option.SERVER_ID,
  Option.LEASE_TIME,
  Option.SUBNET_MASK,
  Option.ROUTER,
  Option.MESSAGE,
  Option.CLIENT_ID,
  Option.RELAY_AGENT_INFO,
]);

/**
 * Optional options in the order they go when a reply is too big: unknown ones
 * first, then name-service details, then the boot options last, because a
 * boot server's reply that loses option 60 or 43 is ignored by PXE firmware.
 */
const DROP_ORDER: readonly number[] = [
  Option.DOMAIN_NAME,
  Option.DNS_SERVERS,
  Option.HOSTNAME,
  Option.REBINDING_TIME,
  Option.RENEWAL_TIME,
  Option.CLIENT_UUID,
  Option.TFTP_SERVER_NAME,
  Option.BOOTFILE_NAME,
  Option.VENDOR_SPECIFIC,
  Option.VENDOR_CLASS,
];

/**
 * Drops optional options until the encoded reply fits the client's limit. We
 * never overload sname/file instead: the boot file lives in 'file', and
 * firmwares read it there.
 */
export function fitToSize(reply: DhcpPacket, maxBytes: number): DhcpPacket {
  const rank = (code: number) => DROP_ORDER.indexOf(code); // -1 (unknown) goes first
  const droppable = [...reply.options.keys()]
    .filter((code) => !ESSENTIAL_OPTIONS.has(code))
    .sort((a, b) => rank(b) - rank(a));
  while (encodedLength(reply) > maxBytes && droppable.length > 0) reply.options.delete(droppable.pop()!);
  return reply;
}

function addLeaseTimes(options: Map<number, Buffer>, leaseSeconds: number): void {
  options.set(Option.LEASE_TIME, encodeValue.u32(leaseSeconds));
  // RFC 2131 4.4.5 defaults: T1 = 0.5, T2 = 0.875 of the lease.
  options.set(Option.RENEWAL_TIME, encodeValue.u32(Math.floor(leaseSeconds * 0.5)));
  options.set(Option.REBINDING_TIME, encodeValue.u32(Math.floor(leaseSeconds * 0.875)));
}

function addNetworkOptions(options: Map<number, Buffer>, network: NetworkOptions): void {
  options.set(Option.SUBNET_MASK, encodeValue.ip(network.subnetMask));
  if (network.router) options.set(Option.ROUTER, encodeValue.ip(network.router));
  if (network.dns?.length) options.set(Option.DNS_SERVERS, encodeValue.ips(network.dns));
  if (network.domain) options.set(Option.DOMAIN_NAME, encodeValue.text(network.domain));
}

/**
 * Boot file in the header (siaddr + file, read by every firmware) and, when
 * the client asked for them, in options 66/67 too. Option 60 tells PXE and
 * HTTP-boot firmware that this reply is meant for them; 97 is echoed (PXE spec).
 */
function addBootInfo(reply: DhcpPacket, client: ClientRequest, boot: BootAnswer): void {
  if (boot.kind === 'none') return;
  const options = reply.options;
  reply.file = boot.bootFile;
  options.set(Option.VENDOR_CLASS, encodeValue.text(boot.vendorClass));
  if (boot.kind !== 'http') options.set(Option.VENDOR_SPECIFIC, encodeValue.subOptions(PXE_BOOT_FROM_FILE));
  if (boot.kind !== 'http') reply.siaddr = boot.nextServer;
  if (boot.kind === 'tftp') {
    if (client.parameterRequestList.includes(Option.TFTP_SERVER_NAME)) {
      options.set(Option.TFTP_SERVER_NAME, encodeValue.text(boot.nextServer));
    }
  }
  if (client.parameterRequestList.includes(Option.BOOTFILE_NAME)) {
    options.set(Option.BOOTFILE_NAME, encodeValue.text(boot.bootFile));
  }
  if (client.uuid) options.set(Option.CLIENT_UUID, encodeValue.uuid(client.uuid));
}

export interface Destination {
  address: string;
  port: number;
}

/**
 * RFC 2131 4.1, in its order: through a relay (giaddr set), to the relay's
 * server port; a NAK without a relay, by broadcast; a client with an address
 * (ciaddr: RENEWING, REBINDING, INFORM), to that address; otherwise by
 * broadcast, whether or not the broadcast flag asks for it: unicast to
 * yiaddr needs an ARP entry for an address the client does not have yet,
 * which Node cannot set (Kea and dnsmasq can, with raw sockets).
 */
export function replyDestination(request: DhcpPacket, messageType: number): Destination {
  if (request.giaddr !== ZERO_IP) return { address: request.giaddr, port: SERVER_PORT };
  const broadcast = messageType === MessageType.NAK || request.ciaddr === ZERO_IP;
  return broadcast ? { address: BROADCAST_IP, port: CLIENT_PORT } : { address: request.ciaddr, port: CLIENT_PORT };
}
