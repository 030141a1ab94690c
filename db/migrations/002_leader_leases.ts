import type { Knex } from 'knex';

/**
 * Leader leases: one row per role (e.g. `watcher`). Several homeport
 * instances on one PostgreSQL take the lease with one conditional UPDATE;
 * the holder renews it every tick, and when it stops renewing (crash) the
 * lease expires and another instance takes over.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('leader_leases', (t) => {
    t.string('name', 64).primary();
    t.string('holder', 128).notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('acquired_at').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('leader_leases');
}
