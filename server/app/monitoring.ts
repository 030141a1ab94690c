/** The status page and event stream, wired from their parts. */
import type Router from '@koa/router';
import type Koa from 'koa';
import type { MonitoringConfig } from '../monitoring/config.js';
import { requireReader } from '../monitoring/access.js';
import { jobToJson } from '../jobs/present.js';
import type { JobsService } from '../jobs/service.js';
import type { Repositories } from '../store/repositories.js';
import type { Job } from '../store/jobs-repo.js';
import type { Logger } from '../log/logger.js';
import { historyToJson, nodeToJson, readerLabels } from '../nodes/present.js';
import type { NodeEvent, NodesService } from '../nodes/service.js';
import { EventHub } from '../monitoring/events.js';
import { createRenderer } from '../monitoring/render.js';
import { monitoringRouter } from '../monitoring/routes.js';

export interface MonitoringOptions {
  config: MonitoringConfig;
  service: NodesService;
  jobs: JobsService;
  repositories: Pick<Repositories, 'clusters' | 'history'>;
  adminToken: string;
  clock: () => number;
  log: Logger;
  /** reprovision.redfish.bmcLabel: hidden from readers like the conventional BMC label names. */
  bmcLabel?: string;
}

export interface Monitoring {
  routers: Router[];
  /** The reader check for other read-only routes (GET /api/status/*): open, or the admin token with monitoring.requireAdmin. */
  reader: Koa.Middleware;
  hub: EventHub;
  /** Ends the event streams; call before closing the HTTP server, or it waits for them. */
  close(): void;
}

export function createMonitoring({
  config,
  service,
  jobs,
  repositories,
  adminToken,
  clock,
  log,
  bmcLabel,
}: MonitoringOptions): Monitoring {
  const labels = readerLabels(bmcLabel);
  // One serialization for every stream client, so BMC labels are left out for all of them.
  const toJson = (event: NodeEvent) =>
    event.type === 'node_deleted'
      ? { type: event.type, id: event.id }
      : {
          type: event.type,
          node: nodeToJson(event.node, service.catalogue, labels),
          entry: event.type === 'phase' ? historyToJson(event.entry) : null,
        };
  const hub = new EventHub(service.events, toJson, {
    maxClients: config.maxEventClients,
    heartbeatMs: config.heartbeatMs,
    retryMs: config.retryMs,
    log,
  });
  // Job changes (created, cancelled, retried) refresh the page like node changes do.
  hub.follow<Job>(jobs.events, (job) => ({ type: 'job', job: jobToJson(job) }));
  const access = { required: config.requireAdmin, adminToken, sessionHours: config.sessionHours, clock };
  const router = monitoringRouter({
    service,
    jobs,
    clusterRows: repositories.clusters,
    history: repositories.history,
    hub,
    renderer: createRenderer(),
    access,
    log,
    labels,
  });
  return { routers: [router], reader: requireReader(access, 'error'), hub, close: () => hub.close() };
}
