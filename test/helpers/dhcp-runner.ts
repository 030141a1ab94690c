/**
 * Runs homeport's DHCP server in its own process, for tests that start it
 * inside a network namespace:
 *   ip netns exec NS node --import tsx test/helpers/dhcp-runner.ts '<json>'
 * The JSON is DhcpServerOptions minus the store, log and registry, plus sqlitePath
 * (or databaseUrl: several runners on one PostgreSQL).
 * Prints "ready" once listening; exits cleanly on SIGTERM.
 */
import pino from 'pino';
import { migrateLatest, openDatabase } from '../../server/store/db.js';
import { DhcpLeasesRepo, type ClaimOutcome, type LeaseClaim } from '../../server/store/dhcp-leases-repo.js';
import { WriteBatcher } from '../../server/store/write-batcher.js';
import { startDhcpServer, type DhcpServerOptions } from '../../server/dhcp/server.js';

type RunnerConfig = Omit<
  DhcpServerOptions,
  'leaseRepo' | 'claimBatcher' | 'log' | 'registry' | 'onBootRequest' | 'now'
> & {
  sqlitePath: string;
  databaseUrl?: string;
  logLevel?: string;
};

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as RunnerConfig;
  const log = pino({ level: config.logLevel ?? 'info' }, pino.destination(2));
  const db = openDatabase({
    url: config.databaseUrl,
    sqlitePath: config.sqlitePath,
    synchronous: 'FULL',
    busyTimeoutMs: 5000,
  });
  await migrateLatest(db.knex);
  const leaseRepo = new DhcpLeasesRepo(db.knex);
  const server = await startDhcpServer({
    ...config,
    leaseRepo,
    claimBatcher: new WriteBatcher<LeaseClaim, ClaimOutcome>((claims) => leaseRepo.claim(claims, Date.now())),
    log,
    onBootRequest: (info) => process.stdout.write(`boot-request ${JSON.stringify(info)}\n`),
  });
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void server
      .close()
      .then(() => db.close())
      .finally(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`dhcp-runner failed: ${String(err instanceof Error ? err.stack : err)}\n`);
  process.exit(1);
});
