import { configSchema, type Config } from '../../server/config/schema.js';
import type { Logger } from '../../server/log/logger.js';
import { buildCatalogue } from '../../server/nodes/phases.js';
import { NodesService } from '../../server/nodes/service.js';
import { createRepositories } from '../../server/store/repositories.js';
import { createReprovisioning, type Reprovisioning } from '../../server/app/reprovisioning.js';
import type { Database } from '../../server/store/db.js';
import type { TestSshd } from './sshd.js';

/** Install rounds as a default config has them, with a fixed test secret. */
export const TEST_ROUNDS = {
  secret: 'test-round-secret-0123456789',
  bindSource: 'first-use',
  graceMs: 30 * 60_000,
  openPhoneHome: false,
} as const;

export interface Harness {
  nodes: NodesService;
  rp: Reprovisioning;
  config: Config;
}

/**
 * The reprovision workflow wired as in startHomeport, on a given database
 * with an injected clock, no cron (tests call watcher.tick()), SSH to the
 * test sshd. `config` holds extra config keys (watcher, reprovision, clusters).
 */
export async function reprovisioningHarness(
  db: Database,
  options: { clock: () => number; log: Logger; sshd?: TestSshd; config?: Record<string, unknown>; instanceId?: string },
): Promise<Harness> {
  const extra = options.config ?? {};
  const config = configSchema.parse({
    ...extra,
    ssh: {
      connectTimeoutMs: 20_000,
      retryDelayMs: 100,
      ...(options.sshd ? { port: options.sshd.port, keyFile: options.sshd.keyFile, hostKeys: 'accept' } : {}),
      ...(extra.ssh as object | undefined),
    },
    watcher: { enabled: false, sshTimeoutMs: 20_000, ...(extra.watcher as object | undefined) },
  });
  const repositories = createRepositories(db);
  const nodes = new NodesService(repositories, buildCatalogue(), options.clock, { rounds: TEST_ROUNDS });
  const rp = await createReprovisioning({
    config,
    repositories,
    nodes,
    profiles: [],
    adminToken: 'test-admin-token',
    log: options.log,
    clock: options.clock,
    instanceId: options.instanceId,
  });
  return { nodes, rp, config };
}
