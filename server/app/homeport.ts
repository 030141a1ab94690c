import fs from 'node:fs';
import type Router from '@koa/router';
import { readOrCreateSecret } from '../auth/tokens.js';
import { bootRouters } from './boot.js';
import { loadBootCatalog } from '../boot/catalog.js';
import { startDiscoverySweep } from '../boot/discovery.js';
import type { Config } from '../config/schema.js';
import { createHttpApp } from '../http/app.js';
import { listenHttp, type RunningHttpServer } from '../http/server.js';
import type { Logger } from '../log/logger.js';
import { countPhaseReports } from './metrics.js';
import { createDomainMetrics, type DomainMetrics } from '../metrics/domain.js';
import { createRegistry } from '../metrics/registry.js';
import { createMonitoring } from './monitoring.js';
import { buildCatalogue } from '../nodes/phases.js';
import { nodeRouters } from '../nodes/routes.js';
import { NodesService } from '../nodes/service.js';
import { reservationProblem } from '../dhcp/reservations.js';
import { startNetbootListeners, type NetbootListeners } from './netboot.js';
import { createReprovisioning, type Reprovisioning } from './reprovisioning.js';
import { createHostKeyPinner } from '../ssh/pin.js';
import { createTimeline } from './timeline.js';
import { startWebhooks } from '../webhooks/delivery.js';
import { migrateLatest, openDatabase, pingDatabase, type Database } from '../store/db.js';
import { createRepositories } from '../store/repositories.js';

import type { Clock } from '../kernel/clock.js';
import type { BootEvents } from '../timeline/service.js';

export type { Clock };

/** How often expired discoveries are swept (boot.discoverTtlHours is in hours: minutes of lag do not matter). */
const DISCOVERY_SWEEP_MS = 10 * 60_000;

export interface Homeport {
  http: RunningHttpServer;
  db: Database;
  adminToken: string;
  secret: string;
  nodes: NodesService;
  /** Domain metrics (phases, nodes, watcher, clusters, SSH) for the modules that record them. */
  metrics: DomainMetrics;
  /** Reprovision API, watcher (tick() for tests) and cluster formation. */
  reprovisioning: Reprovisioning;
  /** Boot events (issue 19); absent with timeline.enabled false. */
  timeline: BootEvents | undefined;
  /** The HTTP routers as mounted, core first (the route-table tests walk their stacks). */
  routers: Router[];
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  clock?: Clock;
  /** Where the one-time admin token notice goes (stdout by default). */
  announce?: (line: string) => void;
  /** Run by systemd (stdout goes to the journal); default: INVOCATION_ID is set. */
  underSystemd?: boolean;
}

/** systemd sets INVOCATION_ID for every unit it starts (systemd.exec(5)). */
export function isUnderSystemd(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.INVOCATION_ID);
}

/** The composition root: opens the store, builds every domain, starts the listeners. */
export async function startHomeport(config: Config, options: StartOptions): Promise<Homeport> {
  const { log } = options;
  const announce = options.announce ?? ((line: string) => process.stdout.write(line + '\n'));
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
  const admin = readOrCreateSecret(config.auth.adminTokenFile);
  if (admin.created) {
    // Printed once, on the run that creates it, and never logged. Under systemd stdout is the journal (a log): there only the file is named.
    if (options.underSystemd ?? isUnderSystemd(process.env))
      log.warn(
        { file: config.auth.adminTokenFile },
        'generated an admin token: read it from its file (mode 0600); it is not printed under systemd, whose journal keeps stdout',
      );
    else
      announce(`homeport: generated admin token (stored in ${config.auth.adminTokenFile}, mode 0600): ${admin.value}`);
  }
  const secret = readOrCreateSecret(config.auth.secretFile).value;

  const bootCatalog = loadBootCatalog(config.boot);
  const db = openDatabase({ url: config.database.url, ...config.database });
  await migrateLatest(db.knex);
  log.info(
    { database: db.kind, path: db.kind === 'sqlite' ? config.database.sqlitePath : undefined },
    'database ready',
  );

  const registry = createRegistry();
  const clock = options.clock ?? Date.now;
  const repositories = createRepositories(db);
  const rounds = {
    secret,
    bindSource: config.auth.bindSource,
    graceMs: config.auth.roundGraceMinutes * 60_000,
    openPhoneHome: config.auth.openPhoneHome,
  };
  const nodes = new NodesService(repositories, buildCatalogue(config.phases.extra), clock, {
    groupCommitMs: config.database.groupCommitMs,
    cacheMs: config.database.nodeCacheMs,
    rounds,
    leaseIp: (mac) => repositories.dhcpLeases.boundIp(mac, clock()),
    // Full-mode DHCP hands a node's ip out as its reservation: refuse at input what it could not hand out.
    ipRule: config.dhcp.mode === 'full' ? (ip) => reservationProblem(ip, config.dhcp) : undefined,
  });
  const metrics = createDomainMetrics({
    registry,
    catalogue: nodes.catalogue,
    countNodes: () => repositories.nodes.counts(),
    onCollectError: (err) => log.warn({ err }, 'node gauges: could not count nodes'),
  });
  countPhaseReports(nodes.events, metrics, nodes.catalogue);
  const webhookSecrets = config.webhooks.flatMap((w) => (w.secret ? [w.secret] : []));
  const profiles = [...bootCatalog.keys()];
  const reprovisioning = await createReprovisioning({
    config,
    repositories,
    nodes,
    profiles,
    adminToken: admin.value,
    log,
    clock,
    metrics,
    secrets: [secret, ...webhookSecrets],
  });
  const bmcLabel = config.reprovision.redfish.bmcLabel;
  const monitoring = createMonitoring({
    config: config.monitoring,
    service: nodes,
    jobs: reprovisioning.jobs,
    repositories,
    adminToken: admin.value,
    clock,
    log,
    bmcLabel,
  });
  const timeline = createTimeline({
    config,
    repositories,
    nodes,
    clock,
    log,
    adminToken: admin.value,
    reader: monitoring.reader,
  });
  const routers: Router[] = [
    ...nodeRouters({
      service: nodes,
      adminToken: admin.value,
      log,
      profiles,
      pinHostKeys: createHostKeyPinner(repositories.hostKeys, clock, log.child({ component: 'ssh' })),
      reader: monitoring.reader,
      bmcLabel,
      onRefused: timeline.onRefused,
    }),
    ...bootRouters({ config, catalog: bootCatalog, nodes, repositories, log, clock, timeline: timeline.events }),
    ...timeline.routers,
    ...monitoring.routers,
    ...reprovisioning.routers,
  ];
  const { listener, routers: mounted } = createHttpApp({
    log,
    registry,
    bodyLimitKb: config.http.bodyLimitKb,
    routers,
    checkDatabase: () => pingDatabase(db.knex),
  });
  let http: RunningHttpServer;
  try {
    http = await listenHttp(listener, config.http.host, config.http.port, config.http);
  } catch (err) {
    monitoring.close();
    await db.close();
    throw err;
  }
  log.info({ host: http.address.address, port: http.address.port }, 'http listening');
  let netboot: NetbootListeners;
  try {
    netboot = await startNetbootListeners({
      config,
      dhcpLeases: repositories.dhcpLeases,
      log,
      registry,
      nodes,
      httpPort: http.address.port,
      clock,
      timeline: timeline.events,
    });
  } catch (err) {
    monitoring.close();
    await http.close();
    await db.close();
    throw err;
  }

  if (config.watcher.enabled) reprovisioning.watcher.start();
  const discoverySweep = startDiscoverySweep({
    nodes,
    ttlHours: config.boot.discoverTtlHours,
    intervalMs: DISCOVERY_SWEEP_MS,
    clock,
    log: log.child({ component: 'boot' }),
  });
  const webhooks = startWebhooks({
    targets: config.webhooks,
    nodeEvents: nodes.events,
    clusterEvents: reprovisioning.clusters.events,
    log: log.child({ component: 'webhooks' }),
  });

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('shutting down');
      discoverySweep.close();
      await reprovisioning.stop(); // before the database closes: the watcher hands its lease over
      await webhooks.close();
      await netboot.close();
      monitoring.close(); // open event streams would hold http.close() for its whole grace period
      await http.close();
      await nodes.flush();
      await timeline.flush();
      await db.close();
      log.info('stopped');
    })());
  return {
    http,
    db,
    adminToken: admin.value,
    secret,
    nodes,
    metrics,
    reprovisioning,
    timeline: timeline.events,
    routers: mounted,
    stop,
  };
}
