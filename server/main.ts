import fs from 'node:fs';
import type Router from '@koa/router';
import { readOrCreateSecret } from './auth/tokens';
import { bootRouters, loadBootCatalog } from './boot';
import type { Config } from './config/schema';
import { createHttpApp } from './http/app';
import { listenHttp, type RunningHttpServer } from './http/server';
import type { Logger } from './log/logger';
import { countPhaseReports, createDomainMetrics, type DomainMetrics } from './metrics/domain';
import { createRegistry } from './metrics/registry';
import { createMonitoring } from './monitoring';
import { countNodes } from './monitoring/queries';
import { buildCatalogue } from './nodes/phases';
import { nodeRouters } from './nodes/routes';
import { NodesService } from './nodes/service';
import { startNetbootListeners, type NetbootListeners } from './netboot';
import { createReprovisioning, type Reprovisioning } from './reprovision';
import { startWebhooks } from './webhooks/delivery';
import { migrateLatest, openDatabase, pingDatabase, type Database } from './store/db';

import type { Clock } from './nodes/service';

export type { Clock };

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
  /** The HTTP routers as mounted, core first (the route-table tests walk their stacks). */
  routers: Router[];
  stop(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  clock?: Clock;
  /** Where the one-time admin token notice goes (stdout by default). */
  announce?: (line: string) => void;
}

/** The composition root: opens the store, builds every domain, starts the listeners. */
export async function startHomeport(config: Config, options: StartOptions): Promise<Homeport> {
  const { log } = options;
  const announce = options.announce ?? ((line: string) => process.stdout.write(line + '\n'));
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o750 });
  const admin = readOrCreateSecret(config.auth.adminTokenFile);
  if (admin.created) {
    // Printed once, on the run that creates it, and never logged.
    announce(`homeport: generated admin token (stored in ${config.auth.adminTokenFile}, mode 0600): ${admin.value}`);
  }
  const secret = readOrCreateSecret(config.auth.secretFile).value;

  const bootCatalog = loadBootCatalog(config.boot);
  const db = openDatabase({ url: config.database.url, ...config.database });
  await migrateLatest(db.knex);
  log.info({ database: db.kind, path: db.kind === 'sqlite' ? config.database.sqlitePath : undefined }, 'database ready');

  const registry = createRegistry();
  const clock = options.clock ?? Date.now;
  const nodes = new NodesService(db, buildCatalogue(config.phases.extra), clock, { groupCommitMs: config.database.groupCommitMs });
  const metrics = createDomainMetrics({ registry, catalogue: nodes.catalogue, countNodes: () => countNodes(db.knex), onCollectError: (err) => log.warn({ err }, 'node gauges: could not count nodes') });
  countPhaseReports(nodes.events, metrics, nodes.catalogue);
  const webhookSecrets = config.webhooks.flatMap((w) => (w.secret ? [w.secret] : []));
  const profiles = [...bootCatalog.keys()];
  const reprovisioning = await createReprovisioning({ config, db, nodes, profiles, adminToken: admin.value, log, clock, metrics, secrets: [secret, ...webhookSecrets] });
  const monitoring = createMonitoring({ config: config.monitoring, service: nodes, jobs: reprovisioning.jobs, knex: db.knex, adminToken: admin.value, clock, log });
  const routers: Router[] = [...nodeRouters({ service: nodes, adminToken: admin.value, phoneHome: { secret, open: config.auth.openPhoneHome }, profiles }), ...bootRouters({ config, catalog: bootCatalog, nodes, db, secret, log }), ...monitoring.routers, ...reprovisioning.routers];
  const { listener, routers: mounted } = createHttpApp({ log, registry, bodyLimitKb: config.http.bodyLimitKb, routers, checkDatabase: () => pingDatabase(db.knex) });
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
    netboot = await startNetbootListeners({ config, knex: db.knex, log, registry, nodes, httpPort: http.address.port });
  } catch (err) {
    monitoring.close();
    await http.close();
    await db.close();
    throw err;
  }

  if (config.watcher.enabled) reprovisioning.watcher.start();
  const webhooks = startWebhooks({ targets: config.webhooks, nodeEvents: nodes.events, clusterEvents: reprovisioning.clusters.events, log: log.child({ component: 'webhooks' }) });

  let stopping: Promise<void> | null = null;
  const stop = () =>
    (stopping ??= (async () => {
      log.info('shutting down');
      await reprovisioning.stop(); // before the database closes: the watcher hands its lease over
      await webhooks.close();
      await netboot.close();
      monitoring.close(); // open event streams would hold http.close() for its whole grace period
      await http.close();
      await nodes.flush();
      await db.close();
      log.info('stopped');
    })());
  return { http, db, adminToken: admin.value, secret, nodes, metrics, reprovisioning, routers: mounted, stop };
}
