import type Router from '@koa/router';
import type { Config } from '../config/schema.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../log/logger.js';
import type { NodesService } from '../nodes/service.js';
import type { Repositories } from '../store/repositories.js';
import { assetServing } from '../boot/assets.js';
import type { BootCatalog } from '../boot/catalog.js';
import { DiscoveryGate } from '../boot/discovery.js';
import { SHIPPED_CLIENTS_DIR } from '../boot/paths.js';
import { bootRouter } from '../boot/routes.js';
import { BootService } from '../boot/service.js';
import type { BootEvents } from '../timeline/service.js';

/** The HTTP boot routes: /boot.ipxe, /boot/:mac.ipxe, /config/:mac/:name, /assets/, /ipxe/, /clients/. */
export function bootRouters(input: {
  config: Config;
  catalog: BootCatalog;
  nodes: NodesService;
  repositories: Pick<Repositories, 'discoveries'>;
  log: Logger;
  clock: Clock;
  timeline?: BootEvents;
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
    clock: input.clock,
    discovery: new DiscoveryGate(input.repositories.discoveries, boot.discoverLimit),
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
      timeline: input.timeline,
    }),
  ];
}
