/**
 * DHCP socket edge: proxyDHCP or full DHCP on one interface. It receives,
 * parses, asks the decision (proxy-mode.ts, or full-mode.ts with the lease
 * repository and claim batcher its caller built) and sends; it decides nothing.
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
import type { Registry } from 'prom-client';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../log/logger.js';
import type { ClaimOutcome, DhcpLeasesRepo, LeaseClaim } from '../store/dhcp-leases-repo.js';
import {
  DEFAULT_BOOT_FILES,
  decideBoot,
  isIpxe,
  isNetbootClient,
  type BootAnswer,
  type BootFiles,
} from './boot-decision.js';
import {
  BOOTREQUEST,
  encodeDhcp,
  MESSAGE_TYPE_NAMES,
  Option,
  parseDhcp,
  readClientRequest,
  type ClientRequest,
  type DhcpPacket,
} from './codec.js';
import { DEFAULT_OFFER_HOLD_SECONDS, FullMode, type DhcpPoolOptions, type Step, type Warning } from './full-mode.js';
import { createDhcpMetrics } from './metrics.js';
import { proxyAnswer, type Via } from './proxy-mode.js';
import { buildReply, replyDestination, type Answer, type Destination } from './replies.js';

export type { DhcpPoolOptions } from './full-mode.js';

export interface BootRequestInfo {
  mac: string;
  arch?: number;
  uuid?: string;
  ipxe: boolean;
  messageType: string;
}

/** What a network-boot client asked and what it got: the facts its boot timeline shows. */
export interface DhcpAnswerInfo {
  mac: string;
  messageType: string;
  arch?: number;
  vendorClass?: string;
  userClasses: string[];
  /** The relay's address; absent when the client is on the server's own link. */
  giaddr?: string;
  ipxe: boolean;
  /** OFFER, ACK, NAK, ... or `ignored`. */
  answer: string;
  reason?: string;
  bootFile?: string;
  yiaddr?: string;
  /** The address the client already has (a renewal, a PXE request to port 4011). */
  ciaddr?: string;
}

/** What full mode reads from the store. */
export type LeaseReader = Pick<DhcpLeasesRepo, 'loadAll' | 'leaseOfMac' | 'loadReservations'>;

/** Writes lease claims with group commit (a WriteBatcher over DhcpLeasesRepo.claim); flushed on close. */
export interface ClaimBatcher {
  run(claim: LeaseClaim): Promise<ClaimOutcome>;
  flush(): Promise<void>;
}

export interface DhcpServerOptions {
  mode: 'proxy' | 'full';
  interface: string;
  serverIp: string;
  httpBaseUrl: string;
  tftpServerIp?: string;
  log: Logger;
  registry?: Registry;
  pool?: DhcpPoolOptions;
  /** Full mode: where leases and reservations are read. */
  leaseRepo?: LeaseReader;
  /** Full mode: where leases are written. */
  claimBatcher?: ClaimBatcher;
  bootFiles?: BootFiles;
  /** Path under httpBaseUrl where UEFI HTTP-boot clients fetch their EFI binary; '/ipxe' by default. */
  httpBootPath?: string;
  port?: number;
  proxyPort?: number;
  onBootRequest?: (info: BootRequestInfo) => void;
  /** After the decision, for network-boot clients only (others are the installed machines' own DHCP). */
  onAnswer?: (info: DhcpAnswerInfo) => void;
  /** NAK an INIT-REBOOT from a client this server has no record of (RFC 2131 4.3.2); false: stay silent. */
  authoritative?: boolean;
  /** How long an offer holds its address against other offers; a few seconds. */
  offerHoldSeconds?: number;
  /** Injected for tests; Date.now by default. */
  now?: Clock;
}

export interface DhcpServer {
  close(): Promise<void>;
}

const RESERVATION_REFRESH_MS = 10_000;

type Reply = { packet: DhcpPacket; to: Destination };

export async function startDhcpServer(opts: DhcpServerOptions): Promise<DhcpServer> {
  assertInterfaceOwns(opts.interface, opts.serverIp);
  const metrics = createDhcpMetrics(opts.registry);
  const now = opts.now ?? Date.now;
  const bootFor = bootFilesFor(opts);
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

    const spec: Answer =
      via === 'pxe' || !full
        ? proxyAnswer(packet, client, via, { serverIp: opts.serverIp, bootFor })
        : await full.answer(packet, client);
    if ('ignored' in spec) {
      notifyAnswer(packet, client, type, { answer: 'ignored', reason: spec.ignored });
      return ignore(spec.ignored, client);
    }
    const reply = buildReply(packet, client, spec);
    notifyAnswer(packet, client, type, {
      answer: MESSAGE_TYPE_NAMES[spec.messageType] ?? 'unknown',
      bootFile: reply.file || undefined,
      yiaddr: reply.yiaddr === '0.0.0.0' ? undefined : reply.yiaddr,
    });
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

  function notifyBootRequest(client: ClientRequest, messageType: string): void {
    if (!opts.onBootRequest || !client.mac || !isNetbootClient(client)) return;
    try {
      opts.onBootRequest({ mac: client.mac, arch: client.arch, uuid: client.uuid, ipxe: isIpxe(client), messageType });
    } catch (err) {
      opts.log.warn({ err }, 'onBootRequest callback failed');
    }
  }

  function notifyAnswer(
    packet: DhcpPacket,
    client: ClientRequest,
    messageType: string,
    outcome: Pick<DhcpAnswerInfo, 'answer' | 'reason' | 'bootFile' | 'yiaddr'>,
  ): void {
    if (!opts.onAnswer || !client.mac || !isNetbootClient(client)) return;
    try {
      opts.onAnswer({
        mac: client.mac,
        messageType,
        arch: client.arch,
        vendorClass: client.vendorClass,
        userClasses: client.userClasses,
        giaddr: packet.giaddr === '0.0.0.0' ? undefined : packet.giaddr,
        ciaddr: packet.ciaddr === '0.0.0.0' ? undefined : packet.ciaddr,
        ipxe: isIpxe(client),
        ...outcome,
      });
    } catch (err) {
      opts.log.warn({ err }, 'onAnswer callback failed');
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

/** The boot file a network-boot client gets (boot-decision.ts), or undefined. */
function bootFilesFor(opts: DhcpServerOptions): (client: ClientRequest) => BootAnswer | undefined {
  const settings = {
    httpBaseUrl: opts.httpBaseUrl.replace(/\/+$/, ''),
    tftpServerIp: opts.tftpServerIp ?? opts.serverIp,
    httpBootPath: opts.httpBootPath,
    bootFiles: { ...DEFAULT_BOOT_FILES, ...opts.bootFiles },
  };
  return (client) => {
    const boot = decideBoot(client, settings);
    return boot.kind === 'none' ? undefined : boot;
  };
}

// ---------------------------------------------------------------- full mode: the store around the state machine

interface FullModeEdge {
  answer(packet: DhcpPacket, client: ClientRequest): Promise<Answer>;
  close(): Promise<void>;
}

async function startFullMode(
  opts: DhcpServerOptions,
  now: Clock,
  bootFor: (client: ClientRequest) => BootAnswer | undefined,
): Promise<FullModeEdge> {
  const { pool, leaseRepo, claimBatcher } = opts;
  if (!pool || !leaseRepo || !claimBatcher)
    throw new Error('dhcp full mode needs a pool, a lease repository and a claim batcher');
  const settings = {
    serverIp: opts.serverIp,
    pool,
    authoritative: opts.authoritative ?? false,
    offerHoldSeconds: opts.offerHoldSeconds ?? DEFAULT_OFFER_HOLD_SECONDS,
    bootFor,
  };
  const machine = new FullMode(settings, await leaseRepo.loadAll());
  const logWarnings = (warnings: Warning[] = []) => {
    for (const { fields, text } of warnings) opts.log.warn(fields, text);
  };

  const refreshReservations = async () => logWarnings(machine.setReservations(await leaseRepo.loadReservations()));
  await refreshReservations();
  const timer = setInterval(() => {
    refreshReservations().catch((err: unknown) => opts.log.warn({ err }, 'dhcp reservation refresh failed'));
  }, RESERVATION_REFRESH_MS);
  timer.unref();

  /** Runs the machine's steps: each claim or lookup goes to the store, its answer back to the machine. */
  const answer = async (packet: DhcpPacket, client: ClientRequest): Promise<Answer> => {
    let step: Step = machine.decide(packet, client, now());
    for (;;) {
      logWarnings(step.warnings);
      if ('answer' in step) return step.answer;
      if ('claim' in step) step = step.then(await claimBatcher.run(step.claim));
      else step = step.then(await leaseRepo.leaseOfMac(step.lookup));
    }
  };

  return {
    answer,
    async close() {
      clearInterval(timer);
      await claimBatcher.flush();
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
