/**
 * DHCP socket edge: proxyDHCP or full DHCP on one interface.
 *
 * Sockets. Node's dgram cannot set SO_BINDTODEVICE or read IP_PKTINFO, so:
 *  - `wildcard` binds 0.0.0.0:67: on Linux only a wildcard bind receives
 *    broadcasts to 255.255.255.255, which is how clients without an address talk;
 *  - `local` binds SERVER_IP:67 (SO_REUSEADDR lets both coexist): unicast to us
 *    (relays, renewals) lands here, and every reply is sent from it, because a
 *    limited broadcast sent from a socket bound to an address leaves through the
 *    interface that owns that address (Linux route lookup by source), with the
 *    right source address;
 *  - `pxe` binds 0.0.0.0:4011, the PXE boot server port (proxyDHCP requests).
 * The interface is checked at start to own SERVER_IP. A broadcast arriving on
 * another interface of the same host cannot be told apart, so on a multi-homed
 * host run homeport in a network namespace holding only the boot interface,
 * or in proxy mode, where stray answers carry no address.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import type { Knex } from 'knex';
import type { Logger } from '../log/logger.js';
import type { Registry } from 'prom-client';
import {
  DEFAULT_BOOT_FILES,
  decideBoot,
  isIpxe,
  isNetbootClient,
  type BootAnswer,
  type BootFiles,
  type BootSettings,
} from './boot-decision.js';
import {
  BOOTREQUEST,
  encodeDhcp,
  ipToNumber,
  MESSAGE_TYPE_NAMES,
  MessageType,
  Option,
  parseDhcp,
  readClientRequest,
  type ClientRequest,
  type DhcpPacket,
} from './codec.js';
import { WriteBatcher } from '../store/write-batcher.js';
import { DhcpLeasesRepo, type ClaimOutcome, type LeaseClaim } from '../store/dhcp-leases-repo.js';
import { LeaseBook, type Lease } from './leases.js';
import { judgeRequest, requestedAddress, requestState } from './request-rules.js';
import { describeConflict, usableReservations } from './reservations.js';
import { createDhcpMetrics } from './metrics.js';
import {
  buildReply,
  replyDestination,
  ZERO_IP,
  type Destination,
  type NetworkOptions,
  type ReplySpec,
} from './replies.js';

export interface DhcpPoolOptions {
  start: string;
  end: string;
  subnetMask: string;
  router?: string;
  dns?: string[];
  domain?: string;
  leaseSeconds: number;
}

export interface BootRequestInfo {
  mac: string;
  arch?: number;
  uuid?: string;
  ipxe: boolean;
  messageType: string;
}

export interface DhcpServerOptions {
  mode: 'proxy' | 'full';
  interface: string;
  serverIp: string;
  httpBaseUrl: string;
  tftpServerIp?: string;
  knex: Knex;
  log: Logger;
  registry?: Registry;
  pool?: DhcpPoolOptions;
  bootFiles?: BootFiles;
  /** Path under httpBaseUrl where UEFI HTTP-boot clients fetch their EFI binary; '/ipxe' by default. */
  httpBootPath?: string;
  port?: number;
  proxyPort?: number;
  onBootRequest?: (info: BootRequestInfo) => void;
  /** NAK an INIT-REBOOT from a client this server has no record of (RFC 2131 4.3.2); false: stay silent. */
  authoritative?: boolean;
  /** How long an offer holds its address against other offers; a few seconds. */
  offerHoldSeconds?: number;
  /** Injected for tests; Date.now by default. */
  now?: () => number;
}

export interface DhcpServer {
  close(): Promise<void>;
}

const RESERVATION_REFRESH_MS = 10_000;
export const DEFAULT_OFFER_HOLD_SECONDS = 5;
const DECLINE_QUARANTINE_MS = 10 * 60_000;
/** Offers tried per DISCOVER when the store says another instance holds the chosen address. */
const OFFER_ATTEMPTS = 8;

type Reply = { packet: DhcpPacket; to: Destination };
type Via = 'dhcp' | 'pxe';

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  assertInterfaceOwns(opts.interface, opts.serverIp);
  const metrics = createDhcpMetrics(opts.registry);
  const now = opts.now ?? Date.now;
  const bootSettings: BootSettings = {
    httpBaseUrl: opts.httpBaseUrl.replace(/\/+$/, ''),
    tftpServerIp: opts.tftpServerIp ?? opts.serverIp,
    httpBootPath: opts.httpBootPath,
    bootFiles: { ...DEFAULT_BOOT_FILES, ...opts.bootFiles },
  };
  const bootFor = (client: ClientRequest): BootAnswer | undefined => {
    const boot = decideBoot(client, bootSettings);
    return boot.kind === 'none' ? undefined : boot;
  };
  const full = opts.mode === 'full' ? await startFullMode(opts, now, bootFor) : null;

  const port = opts.port ?? 67;
  const wildcard = await bindSocket('0.0.0.0', port);
  const local = await bindSocket(opts.serverIp, port);
  const pxe = await bindSocket('0.0.0.0', opts.proxyPort ?? 4011);
  local.setBroadcast(true);

  const send = (socket: dgram.Socket, reply: Reply): void => {
    const type = MESSAGE_TYPE_NAMES[reply.packet.options.get(53)?.[0] ?? 0] ?? 'unknown';
    metrics.replies.inc({ type });
    socket.send(encodeDhcp(reply.packet), reply.to.port, reply.to.address, (err) => {
      if (err) opts.log.warn({ err, to: reply.to }, 'dhcp send failed');
    });
  };

  const onMessage = (via: Via) => (msg: Buffer, from: dgram.RemoteInfo) => {
    const stopTimer = metrics.handleSeconds.startTimer();
    handlePacket(msg, from, via)
      .then((reply) => {
        if (reply) send(via === 'pxe' ? pxe : local, reply);
      })
      .catch((err: unknown) => {
        metrics.errors.inc();
        opts.log.error({ err, from: from.address }, 'dhcp request failed');
      })
      .finally(() => stopTimer());
  };

  async function handlePacket(msg: Buffer, from: dgram.RemoteInfo, via: Via): Promise<Reply | null> {
    const parsed = parseDhcp(msg);
    if (!parsed.ok) {
      metrics.malformed.inc();
      opts.log.warn({ from: from.address, error: parsed.error, bytes: msg.length }, 'dhcp malformed packet');
      return null;
    }
    const packet = parsed.packet;
    const client = readClientRequest(packet);
    if (packet.op !== BOOTREQUEST || !client.mac || client.messageType === undefined) {
      return ignore('not an Ethernet DHCP request', client);
    }
    const type = MESSAGE_TYPE_NAMES[client.messageType] ?? 'unknown';
    metrics.received.inc({ type });
    opts.log.debug(
      {
        type,
        mac: client.mac,
        xid: packet.xid,
        via,
        ciaddr: packet.ciaddr,
        giaddr: packet.giaddr,
        vendorClass: client.vendorClass,
        arch: client.arch,
      },
      'dhcp request',
    );
    notifyBootRequest(client, type);

    const spec = via === 'pxe' || !full ? proxyAnswer(packet, client, via) : await full.answer(packet, client);
    if ('ignored' in spec) return ignore(spec.ignored, client);
    const reply = buildReply(packet, client, spec);
    const to = via === 'pxe' ? { address: from.address, port: from.port } : replyDestination(packet, spec.messageType);
    const agentInfo = reply.options.get(Option.RELAY_AGENT_INFO)?.toString('hex');
    opts.log.debug(
      {
        type: MESSAGE_TYPE_NAMES[spec.messageType],
        mac: client.mac,
        yiaddr: reply.yiaddr,
        ciaddr: reply.ciaddr,
        file: reply.file,
        to,
        agentInfo,
      },
      'dhcp reply',
    );
    return { packet: reply, to };
  }

  function ignore(reason: string, client: ClientRequest): null {
    metrics.ignored.inc({ reason });
    opts.log.debug({ mac: client.mac, reason }, 'dhcp request ignored');
    return null;
  }

  /**
   * proxyDHCP (PXE spec 2.1): answer only network-boot clients, never with an
   * address: an OFFER to a DISCOVER on port 67, an ACK to a REQUEST or INFORM
   * on 4011. A REQUEST on 67 belongs to the address server and is left alone
   * (an ACK without an address there would unconfigure the client).
   */
  function proxyAnswer(packet: DhcpPacket, client: ClientRequest, via: Via): ReplySpec | { ignored: string } {
    if (!isNetbootClient(client)) return { ignored: 'not a network-boot client' };
    const messageType = proxyReplyType(client.messageType, via);
    if (messageType === null)
      return { ignored: `proxy does not answer ${MESSAGE_TYPE_NAMES[client.messageType ?? 0]} on ${via}` };
    const boot = bootFor(client);
    if (!boot) return { ignored: 'no boot file for this client' };
    return { messageType, serverId: opts.serverIp, ciaddr: packet.ciaddr, boot };
  }

  function notifyBootRequest(client: ClientRequest, messageType: string): void {
    if (!opts.onBootRequest || !client.mac || !isNetbootClient(client)) return;
    try {
      opts.onBootRequest({ mac: client.mac, arch: client.arch, uuid: client.uuid, ipxe: isIpxe(client), messageType });
    } catch (err) {
      opts.log.warn({ err }, 'onBootRequest callback failed');
    }
  }

  wildcard.on('message', onMessage('dhcp'));
  local.on('message', onMessage('dhcp'));
  pxe.on('message', onMessage('pxe'));
  for (const socket of [wildcard, local, pxe])
    socket.on('error', (err) => opts.log.error({ err }, 'dhcp socket error'));
  opts.log.info({ mode: opts.mode, interface: opts.interface, serverIp: opts.serverIp, port }, 'dhcp server listening');

  return {
    async close() {
      await Promise.all([wildcard, local, pxe].map(closeSocket));
      await full?.close();
    },
  };
}

function proxyReplyType(messageType: number | undefined, via: Via): number | null {
  if (via === 'dhcp') return messageType === MessageType.DISCOVER ? MessageType.OFFER : null;
  return messageType === MessageType.REQUEST || messageType === MessageType.INFORM ? MessageType.ACK : null;
}

// ---------------------------------------------------------------- full mode

interface FullMode {
  answer(packet: DhcpPacket, client: ClientRequest): Promise<ReplySpec | { ignored: string }>;
  close(): Promise<void>;
}

async function startFullMode(
  opts: DhcpServerOptions,
  now: () => number,
  bootFor: (client: ClientRequest) => BootAnswer | undefined,
): Promise<FullMode> {
  const pool = opts.pool;
  if (!pool) throw new Error('dhcp full mode needs a pool');
  const repo = new DhcpLeasesRepo(opts.knex);
  const book = new LeaseBook(
    { start: pool.start, end: pool.end, excluded: [opts.serverIp, ...(pool.router ? [pool.router] : [])] },
    {
      offerHoldMs: (opts.offerHoldSeconds ?? DEFAULT_OFFER_HOLD_SECONDS) * 1000,
      declineQuarantineMs: DECLINE_QUARANTINE_MS,
    },
    await repo.loadAll(),
  );
  const network: NetworkOptions = {
    subnetMask: pool.subnetMask,
    router: pool.router,
    dns: pool.dns,
    domain: pool.domain,
  };
  const inSubnet = (ip: string) => sameSubnet(ip, pool.start, pool.subnetMask);
  const hostnames = new Map<string, string | null>();
  // Group commit: claims from one burst of packets share a transaction and its fsync.
  const writer = new WriteBatcher<LeaseClaim, ClaimOutcome>((claims) => repo.claim(claims, now()));

  // Each warning once per distinct text, not once per refresh or per DISCOVER.
  const warned = new Set<string>();
  const warnOnce = (fields: Record<string, unknown>, text: string) => {
    if (warned.has(text)) return;
    warned.add(text);
    opts.log.warn(fields, text);
  };

  async function refreshReservations(): Promise<void> {
    const reservations = await repo.loadReservations();
    hostnames.clear();
    for (const [mac, { hostname }] of reservations) hostnames.set(mac, hostname);
    const stored = new Map([...reservations].map(([mac, { ip }]) => [mac, ip]));
    const { usable, skipped } = usableReservations(stored, { serverIp: opts.serverIp, pool });
    for (const { mac, ip, reason } of skipped)
      warnOnce({ mac, ip }, `dhcp reservation of ${mac} skipped: ${reason}; it gets a pool address`);
    book.setReservations(usable);
  }
  await refreshReservations();
  const timer = setInterval(() => {
    refreshReservations().catch((err: unknown) => opts.log.warn({ err }, 'dhcp reservation refresh failed'));
  }, RESERVATION_REFRESH_MS);
  timer.unref();

  const base = (messageType: number): ReplySpec => ({ messageType, serverId: opts.serverIp });
  const leaseReply = (messageType: number, client: ClientRequest, lease: Lease): ReplySpec => ({
    ...base(messageType),
    yiaddr: lease.ip,
    leaseSeconds: pool.leaseSeconds,
    network,
    hostname: hostnames.get(lease.mac) ?? undefined,
    boot: bootFor(client),
  });
  const nak = (message: string): ReplySpec => ({ ...base(MessageType.NAK), message });

  async function answer(packet: DhcpPacket, client: ClientRequest): Promise<ReplySpec | { ignored: string }> {
    const mac = client.mac!;
    if (packet.giaddr !== ZERO_IP && !inSubnet(packet.giaddr)) return { ignored: 'relay from a subnet without a pool' };
    switch (client.messageType) {
      case MessageType.DISCOVER:
        return discover(client, mac);
      case MessageType.REQUEST:
        return request(packet, client, mac);
      case MessageType.DECLINE: {
        const quarantined = client.requestedIp ? book.decline(mac, client.requestedIp, now()) : null;
        if (quarantined) await writer.run({ lease: quarantined, replaces: mac });
        opts.log.warn({ mac, ip: client.requestedIp }, 'dhcp address declined: another host uses it');
        return { ignored: 'DECLINE needs no reply' };
      }
      case MessageType.RELEASE: {
        const released = book.release(mac, packet.ciaddr, now());
        if (released) await writer.run({ lease: released });
        return { ignored: 'RELEASE needs no reply' };
      }
      case MessageType.INFORM:
        // RFC 2131 3.4: configuration only, no address and no lease time.
        return { ...base(MessageType.ACK), ciaddr: packet.ciaddr, network, boot: bootFor(client) };
      default:
        return { ignored: 'unexpected message type' };
    }
  }

  /**
   * The offer is held in the store before it is sent, so another instance on
   * the same database does not offer it too; when the store says someone
   * else holds the address (or this client holds another one), the book
   * learns it and chooses again.
   */
  async function discover(client: ClientRequest, mac: string): Promise<ReplySpec | { ignored: string }> {
    for (let attempt = 0; attempt < OFFER_ATTEMPTS; attempt++) {
      const lease = book.offer(mac, client.requestedIp, now());
      if (!lease) return { ignored: 'pool exhausted' };
      warnIfReservationBlocked(mac);
      const claimed = await writer.run({ lease, offer: true });
      if (claimed.ok) return leaseReply(MessageType.OFFER, client, lease);
      book.remember(claimed.holder);
    }
    return { ignored: 'every address tried is held by another instance' };
  }

  /** dnsmasq's "not using configured address ... leased to ...": never silence for a reserved node. */
  function warnIfReservationBlocked(mac: string): void {
    const blocker = book.reservationBlocker(mac, now());
    if (blocker)
      warnOnce(
        { mac, ip: blocker.ip, holder: blocker.mac },
        `dhcp ${describeConflict({ mac, ip: blocker.ip, holder: blocker.mac })}`,
      );
  }

  /**
   * The client's lease: this book's, or for an INIT-REBOOT the store's (another
   * instance on the same database may have bound it), so that whether we know
   * the client never depends on which instance heard it first.
   */
  async function recordedLease(mac: string, state: string): Promise<Lease | undefined> {
    const known = book.leaseOf(mac);
    if (known || state !== 'init-reboot') return known;
    const stored = await repo.leaseOfMac(mac);
    if (stored) book.remember(stored);
    return stored;
  }

  /** RFC 2131 4.3.2: SELECTING (server id), INIT-REBOOT (option 50 only) or RENEWING/REBINDING (ciaddr). */
  async function request(
    packet: DhcpPacket,
    client: ClientRequest,
    mac: string,
  ): Promise<ReplySpec | { ignored: string }> {
    const state = requestState(packet, client);
    if (state === null) return { ignored: 'REQUEST without an address' };
    if (state === 'selecting' && client.serverId !== opts.serverIp) return { ignored: 'client chose another server' };
    const ip = requestedAddress(packet, client, state);
    if (!ip) return { ignored: 'REQUEST without an address' };
    const recorded = book.reservedAddress(mac, now()) ?? (await recordedLease(mac, state))?.ip;
    const verdict = judgeRequest({
      state,
      ip,
      onSubnet: inSubnet(ip),
      recorded,
      authoritative: opts.authoritative ?? false,
    });
    if (verdict.action === 'silent') return { ignored: verdict.reason };
    if (verdict.action === 'nak') return nak(verdict.reason);
    const details = { hostname: client.hostname ?? null, clientId: client.clientId?.toString('hex') ?? null };
    const outcome = book.request(mac, ip, pool!.leaseSeconds * 1000, now(), details);
    if (!outcome.ok) return nak(outcome.reason);
    // The ACK goes out only once the lease is on disk: an acknowledged lease survives a crash.
    // The store has the last word: another instance may hold the address.
    const claimed = await writer.run({ lease: outcome.lease });
    if (!claimed.ok) {
      book.remember(claimed.holder);
      return nak(`address ${ip} is in use`);
    }
    // RFC 2131 table 3: an ACK to RENEWING/REBINDING carries ciaddr back.
    return {
      ...leaseReply(MessageType.ACK, client, outcome.lease),
      ciaddr: state === 'renewing' ? packet.ciaddr : undefined,
    };
  }

  return {
    answer,
    async close() {
      clearInterval(timer);
      await writer.flush();
    },
  };
}

// ---------------------------------------------------------------- sockets and addresses

function assertInterfaceOwns(name: string, ip: string): void {
  if (!fs.existsSync(`/sys/class/net/${name}`)) throw new Error(`dhcp: no network interface named ${name}`);
  const addresses = os.networkInterfaces()[name];
  // libuv lists only interfaces that are up with carrier: a bridge whose
  // machines are still powered off has none yet. Binding serverIp:67 below
  // still proves the address is ours (EADDRNOTAVAIL otherwise).
  if (!addresses) return;
  if (!addresses.some((a) => a.family === 'IPv4' && a.address === ip)) {
    throw new Error(`dhcp: interface ${name} has no IPv4 address ${ip}`);
  }
}

/** A UDP socket sharing its port (SO_REUSEADDR): broadcasts reach every socket bound to it. */
export function bindSocket(address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    socket.once('error', reject);
    socket.bind({ address, port }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

function closeSocket(socket: dgram.Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

function sameSubnet(a: string, b: string, mask: string): boolean {
  const m = ipToNumber(mask);
  return (ipToNumber(a) & m) >>> 0 === (ipToNumber(b) & m) >>> 0;
}
