import path from 'node:path';
import type { Registry } from 'prom-client';
import type { Config } from '../config/schema.js';
import { startDhcpServer, type BootRequestInfo } from '../dhcp/server.js';
import type { Logger } from '../log/logger.js';
import { DiscoverCoalescer } from '../nodes/coalesce.js';
import type { NodeEvent, NodesService } from '../nodes/service.js';
import type { ClaimOutcome, DhcpLeasesRepo, LeaseClaim } from '../store/dhcp-leases-repo.js';
import { WriteBatcher } from '../store/write-batcher.js';
import { startTftpServer } from '../tftp/server.js';
import { dhcpEvent, tftpEvent } from '../timeline/emitters.js';
import type { BootEvents } from '../timeline/service.js';

/** Debian's ipxe package installs its binaries here; TFTP serves them after the configured root. */
export const DEBIAN_IPXE_DIR = '/usr/lib/ipxe';

export interface NetbootListeners {
  close(): Promise<void>;
}

interface NetbootDeps {
  config: Config;
  dhcpLeases: DhcpLeasesRepo;
  log: Logger;
  registry: Registry;
  nodes: NodesService;
  httpPort: number;
  clock?: () => number;
  /** Where DHCP answers and TFTP transfers are recorded (timeline.enabled). */
  timeline?: BootEvents;
}

/** The base URL machines use for HTTP: the configured public URL, else the DHCP server address. */
export function machineBaseUrl(config: Config, httpPort: number): string | undefined {
  if (config.http.publicUrl) return config.http.publicUrl.replace(/\/+$/, '');
  return config.dhcp.serverIp ? `http://${config.dhcp.serverIp}:${httpPort}` : undefined;
}

/** Starts the UDP listeners the config asks for (DHCP, TFTP); closes what started if one fails. */
export async function startNetbootListeners(deps: NetbootDeps): Promise<NetbootListeners> {
  const closers: (() => Promise<void>)[] = [];
  const close = async () => {
    for (const closeOne of closers.reverse()) await closeOne();
  };
  try {
    if (deps.config.tftp.enabled) closers.push((await startTftp(deps)).close);
    if (deps.config.dhcp.mode !== 'off') closers.push((await startDhcp(deps)).close);
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}

/** Where TFTP looks for a file, in order: tftp.root (under dataDir when relative), boot.ipxeDir, Debian's iPXE directory. */
export function tftpRoots(config: Config): string[] {
  const root = path.isAbsolute(config.tftp.root) ? config.tftp.root : path.join(config.dataDir, config.tftp.root);
  return [root, config.boot.ipxeDir, DEBIAN_IPXE_DIR].filter((dir, i, all) => all.indexOf(dir) === i);
}

async function startTftp({ config, log, registry, timeline }: NetbootDeps) {
  const tftp = config.tftp;
  const server = await startTftpServer({
    host: tftp.host,
    port: tftp.port,
    roots: tftpRoots(config),
    log: log.child({ component: 'tftp' }),
    registry,
    maxSessions: tftp.maxSessions,
    maxBlksize: tftp.maxBlksize,
    maxWindowsize: tftp.maxWindowsize,
    timeoutMs: tftp.timeoutMs,
    retries: tftp.retries,
    onTransfer: timeline && ((info) => timeline.recordFrom(info.client.address, (mac) => tftpEvent(mac, info))),
  });
  log.info({ host: server.address.host, port: server.address.port }, 'tftp listening');
  return server;
}

async function startDhcp({
  config,
  dhcpLeases: leaseRepo,
  log,
  registry,
  nodes,
  httpPort,
  clock = Date.now,
  timeline,
}: NetbootDeps) {
  const dhcp = config.dhcp;
  if (dhcp.mode === 'off' || !dhcp.interface || !dhcp.serverIp)
    throw new Error('dhcp: mode, interface and serverIp are required');
  const discovers = dhcp.recordDiscover ? new DiscoverCoalescer(dhcp.discoverWindowSeconds * 1000) : null;
  // Anything else recorded for a node (iPXE script served, a phase) ends its boot attempt's coalescing.
  const onProgress = (event: NodeEvent) => {
    if (event.type === 'phase' && event.entry.phase !== 'dhcp_discover') discovers?.reset(event.node.mac);
  };
  nodes.events.on('change', onProgress);
  // Group commit: claims from one burst of packets share a transaction and its fsync.
  const claimBatcher = new WriteBatcher<LeaseClaim, ClaimOutcome>((claims) => leaseRepo.claim(claims, clock()));
  const server = await startDhcpServer({
    mode: dhcp.mode,
    interface: dhcp.interface,
    serverIp: dhcp.serverIp,
    httpBaseUrl: machineBaseUrl(config, httpPort)!,
    tftpServerIp: dhcp.serverIp,
    log: log.child({ component: 'dhcp' }),
    registry,
    pool: dhcp.pool,
    leaseRepo,
    claimBatcher,
    bootFiles: Object.fromEntries(Object.entries(dhcp.bootFiles).map(([arch, file]) => [Number(arch), file])),
    port: dhcp.port,
    proxyPort: dhcp.proxyPort,
    authoritative: dhcp.authoritative,
    offerHoldSeconds: dhcp.offerHoldSeconds,
    onBootRequest: discovers ? (info) => recordDiscover(nodes, log, discovers, clock, info) : undefined,
    onAnswer:
      timeline &&
      ((info) => {
        timeline.addresses.learn(info.yiaddr ?? info.ciaddr, info.mac);
        timeline.record(dhcpEvent(info));
      }),
  });
  log.info({ mode: dhcp.mode, interface: dhcp.interface, serverIp: dhcp.serverIp }, 'dhcp listening');
  return {
    async close() {
      nodes.events.off('change', onProgress);
      await server.close();
    },
  };
}

/** A DISCOVER from a known node lands in its history as `dhcp_discover`, once per boot attempt. */
function recordDiscover(
  nodes: NodesService,
  log: Logger,
  discovers: DiscoverCoalescer,
  clock: () => number,
  info: BootRequestInfo,
): void {
  if (info.messageType !== 'DISCOVER' || !discovers.shouldRecord(info.mac, clock())) return;
  const firmware = info.ipxe ? 'iPXE' : `arch ${info.arch ?? 'unknown'}`;
  nodes
    .recordEvent(
      { mac: info.mac },
      { name: 'dhcp_discover', message: `DHCP DISCOVER from ${firmware}`, source: 'dhcp' },
    )
    .then((entry) => {
      if (!entry) discovers.reset(info.mac); // not a known node: nothing was written
    })
    .catch((err: unknown) => {
      discovers.reset(info.mac);
      log.warn({ err, mac: info.mac }, 'could not record dhcp_discover');
    });
}
