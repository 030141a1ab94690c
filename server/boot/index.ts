import type Router from '@koa/router';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { NodesService } from '../nodes/service.js';
import type { Database } from '../store/db.js';
import { assetServing } from './assets.js';
import { loadCatalog, type BootCatalog } from './catalog.js';
import { DiscoveryGate } from './discovery.js';
import { DiscoveriesRepo } from '../store/discoveries-repo.js';
import { SHIPPED_CLIENTS_DIR } from './paths.js';
import { bootRouter } from './routes.js';
import { BootService } from './service.js';

/** Loads and checks profiles and templates; throws ConfigError (one line) on any mistake. Call before opening anything. */
export function loadBootCatalog(boot: Config['boot']): BootCatalog {
  return loadCatalog({
    templatesDir: boot.templatesDir,
    configProfiles: boot.profiles,
    groups: boot.groups,
    defaultProfile: boot.defaultProfile,
  });
}

/** The HTTP boot routes: /boot.ipxe, /boot/:mac.ipxe, /config/:mac/:name, /assets/, /ipxe/, /clients/. */
export function bootRouters(input: {
  config: Config;
  catalog: BootCatalog;
  nodes: NodesService;
  db: Database;
  log: Logger;
}): Router[] {
  const { boot, http } = input.config;
  const service = new BootService({
    nodes: input.nodes,
    catalog: input.catalog,
    policy: {
      unknown: boot.unknown,
      groups: boot.groups,
      defaultProfile: boot.defaultProfile,
      profiles: new Set(input.catalog.keys()),
    },
    localBoot: boot.localBoot,
    log: input.log,
    discovery: new DiscoveryGate(new DiscoveriesRepo(input.db.knex), boot.discoverLimit),
  });
  return [
    bootRouter({
      service,
      log: input.log,
      publicUrl: http.publicUrl,
      retrySeconds: boot.retrySeconds,
      assetsDir: boot.assetsDir,
      ipxeDir: boot.ipxeDir,
      clientsDir: SHIPPED_CLIENTS_DIR,
      assets: assetServing(boot.assetCacheMb * 1024 * 1024, boot.assetStallSeconds * 1000),
    }),
  ];
}
