import crypto from 'node:crypto';
import os from 'node:os';
import type Router from '@koa/router';
import { createDriver } from '../cluster/drivers.js';
import type { ClusterDriver } from '../cluster/driver.js';
import { clusterRouter } from '../cluster/routes.js';
import { ClustersService } from '../cluster/service.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { DomainMetrics } from '../metrics/domain.js';
import type { Clock } from '../kernel/clock.js';
import type { NodesService } from '../nodes/service.js';
import { createSshClient, type SshClient } from '../ssh/client.js';
import { maskSecrets } from '../ssh/mask.js';
import type { Repositories } from '../store/repositories.js';
import { JobRunner } from '../jobs/runner.js';
import { jobsRouter } from '../jobs/routes.js';
import { JobsService } from '../jobs/service.js';
import { importNodesJobType } from '../nodes/import-job.js';
import { createReadinessCheck } from '../watcher/readiness.js';
import { Watcher } from '../watcher/watcher.js';
import { createPowerControl } from '../reprovision/power.js';
import { powerJobType, reprovisionJobType } from '../reprovision/jobs.js';
import { reprovisionRouter } from '../reprovision/routes.js';
import { ReprovisionService } from '../reprovision/service.js';

export interface ReprovisioningOptions {
  config: Pick<Config, 'ssh' | 'reprovision' | 'watcher' | 'clusters'>;
  repositories: Pick<Repositories, 'jobs' | 'clusters' | 'hostKeys' | 'leaderLease'>;
  nodes: NodesService;
  /** The boot profiles an imported node may name. */
  profiles: readonly string[];
  adminToken: string;
  log: Logger;
  clock: Clock;
  metrics?: Pick<DomainMetrics, 'recordWatcherTick' | 'recordClusterFormation' | 'recordSshError'>;
  /** Tests hand in their own; default: ssh2 with config.ssh. */
  ssh?: SshClient;
  /** Names this instance in the leader lease and job claims. */
  instanceId?: string;
  /** Values masked in job logs and errors (admin token, node-token secret, webhook secrets). */
  secrets?: string[];
}

export interface Reprovisioning {
  routers: Router[];
  watcher: Watcher;
  clusters: ClustersService;
  reprovision: ReprovisionService;
  jobs: JobsService;
  instanceId: string;
  /** Stops the watcher (and a running formation), hands the lease over, closes clients. */
  stop(): Promise<void>;
}

/** Wires seed 000's workflow: reprovision API, watcher, cluster formation jobs. */
export async function createReprovisioning(o: ReprovisioningOptions): Promise<Reprovisioning> {
  const { config, log, clock } = o;
  const instanceId = o.instanceId ?? `${os.hostname()}:${process.pid}:${crypto.randomBytes(3).toString('hex')}`;
  const { jobs: jobRows, clusters: clusterRows, hostKeys } = o.repositories;
  const ssh =
    o.ssh ??
    createSshClient({
      ...config.ssh,
      pinnedHost: (host) => hostKeys.pinnedHostAt(host),
      log: log.child({ component: 'ssh' }),
      onError: o.metrics?.recordSshError,
    });
  if (config.ssh.hostKeys === 'accept')
    log.warn(
      { setting: 'ssh.hostKeys' },
      "ssh.hostKeys is accept: homeport trusts any host key, so whoever answers at a node's address gets its commands and secrets (e.g. the k3s join token); use pinned",
    );
  const retry = {
    attempts: config.ssh.retries,
    baseDelayMs: config.ssh.retryDelayMs,
    maxDelayMs: config.ssh.retryDelayMs * 16,
  };
  const drivers = new Map<string, ClusterDriver>(
    Object.entries(config.clusters).map(([name, settings]) => [
      name,
      createDriver({ ssh, retry, log: log.child({ component: 'cluster', cluster: name }), clock }, settings),
    ]),
  );
  const jobs = new JobsService({ repo: jobRows, clock, log: log.child({ component: 'jobs' }) });
  const clusters = new ClustersService({
    clusters: clusterRows,
    jobs,
    nodes: o.nodes,
    settings: config.clusters,
    driverFor: (name) => drivers.get(name) ?? null,
    clock,
    log: log.child({ component: 'clusters' }),
    recordFormation: o.metrics?.recordClusterFormation,
    maxAttempts: config.watcher.jobAttempts,
  });
  await clusters.syncConfig();
  const power = createPowerControl(config.reprovision, ssh);
  const reprovision = new ReprovisionService({
    nodes: o.nodes,
    resetCluster: (name) => clusters.resetForRound(name),
    power,
    clock,
    log: log.child({ component: 'reprovision' }),
    defaultTimeoutMin: config.watcher.reprovisionTimeoutMin,
  });
  jobs.register(
    clusters.jobType,
    reprovisionJobType({
      nodes: o.nodes,
      reprovision,
      power,
      hasDriver: (name) => drivers.has(name),
      pollMs: config.watcher.jobPollMs,
    }),
    powerJobType({ nodes: o.nodes, power }),
    importNodesJobType(o.nodes, o.profiles),
  );
  const runner = new JobRunner({
    jobs: jobRows,
    types: jobs.types(),
    workerId: instanceId,
    clock,
    log: log.child({ component: 'jobs' }),
    leaseMs: config.watcher.jobLeaseMs,
    retryDelay: { baseDelayMs: config.watcher.jobRetryDelayMs, maxDelayMs: config.watcher.jobRetryDelayMs * 16 },
    mask: (text) => maskSecrets(text, [o.adminToken, ...(o.secrets ?? [])]),
  });
  jobs.onDue(() => runner.kick());
  const watcher = new Watcher({
    nodes: o.nodes,
    clusters,
    lease: o.repositories.leaderLease('watcher', instanceId),
    runner,
    readiness: createReadinessCheck({
      ssh,
      sshTimeoutMs: config.watcher.sshTimeoutMs,
      portTimeoutMs: config.watcher.portTimeoutMs,
    }),
    readinessFor: (cluster) => ({
      ssh: cluster ? (config.clusters[cluster]?.readinessSsh ?? true) : true,
      ports: cluster ? (drivers.get(cluster)?.readinessPorts ?? []) : [],
    }),
    settings: config.watcher,
    clock,
    log: log.child({ component: 'watcher' }),
    recordTick: o.metrics?.recordWatcherTick,
  });
  const routers = [
    reprovisionRouter({ jobs, nodes: o.nodes, adminToken: o.adminToken }),
    clusterRouter({ service: clusters, adminToken: o.adminToken }),
    jobsRouter({ jobs, nodes: o.nodes, adminToken: o.adminToken }),
  ];
  return {
    routers,
    watcher,
    clusters,
    reprovision,
    jobs,
    instanceId,
    async stop() {
      await watcher.stop();
      await power.close();
    },
  };
}
