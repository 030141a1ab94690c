import type { Knex } from 'knex';
import { BootEventsRepo } from './boot-events-repo.js';
import { ClustersRepo } from './clusters-repo.js';
import type { Database } from './db.js';
import { DhcpLeasesRepo } from './dhcp-leases-repo.js';
import { DiscoveriesRepo } from './discoveries-repo.js';
import { HistoryRepo } from './history-repo.js';
import { HostKeysRepo } from './host-keys.js';
import { JobsRepo } from './jobs-repo.js';
import { LeaderLease } from './leader-lease.js';
import { NodesRepo } from './nodes-repo.js';
import { readSummaryRows, type SummaryRows } from './nodes-summary.js';
import { createPhaseStore, type PhaseStore } from './phase-store.js';

/** Runs `work` in one database transaction; the repositories' methods take the `trx` it is given. */
export type RunInTransaction = <T>(work: (trx: Knex.Transaction) => Promise<T>) => Promise<T>;

/**
 * Every repository of the open database, built once by the composition root
 * and handed to the services: the one seam between homeport and its SQL.
 */
export interface Repositories {
  nodes: NodesRepo;
  history: HistoryRepo;
  /** Phase reports' batched writes (node row and history row in one transaction). */
  phases: PhaseStore;
  discoveries: DiscoveriesRepo;
  jobs: JobsRepo;
  clusters: ClustersRepo;
  hostKeys: HostKeysRepo;
  dhcpLeases: DhcpLeasesRepo;
  /** Boot events (issue 19), written only by server/timeline/service.ts. */
  bootEvents: BootEventsRepo;
  /** A leader lease by name (the watcher's), held by `holder`. */
  leaderLease(name: string, holder: string): LeaderLease;
  /** The deployment summary's reads (counts per phase, nodes in progress, failures, durations). */
  summaryRows(deployedPhase: string, failurePhases: readonly string[]): Promise<SummaryRows>;
  transaction: RunInTransaction;
}

export function createRepositories(db: Database): Repositories {
  const { knex } = db;
  return {
    nodes: new NodesRepo(knex),
    history: new HistoryRepo(knex),
    phases: createPhaseStore(db),
    discoveries: new DiscoveriesRepo(knex),
    jobs: new JobsRepo(knex),
    clusters: new ClustersRepo(knex),
    hostKeys: new HostKeysRepo(knex),
    dhcpLeases: new DhcpLeasesRepo(knex),
    bootEvents: new BootEventsRepo(knex),
    leaderLease: (name, holder) => new LeaderLease(knex, name, holder),
    summaryRows: (deployedPhase, failurePhases) => readSummaryRows(knex, deployedPhase, failurePhases),
    transaction: (work) => knex.transaction(work),
  };
}
