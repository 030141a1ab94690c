import { stopTestPostgres } from '../helpers/postgres.js';

// Mocha global fixtures: PostgreSQL starts lazily on first use and stops here.
export async function mochaGlobalTeardown(): Promise<void> {
  await stopTestPostgres();
}
