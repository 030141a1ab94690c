import type { Knex } from 'knex';

/**
 * Boot events (issue 19): what homeport saw of a machine's boot, one row per
 * DHCP answer, TFTP transfer, boot script, asset, config or refused
 * phone-home call. Apart from deployment_history: those rows are install
 * phases a node reports; these are protocol facts, written for unknown MACs
 * too (node_id NULL). Keyed by MAC because a machine boots before it is a
 * node; node_id is filled at insert from the nodes table and set NULL when
 * the node is deleted (its rows then count against the bounded seen list).
 * `detail` is JSON, bounded in size by the writer (server/timeline/events.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('boot_events', (t) => {
    t.bigIncrements('id').primary();
    t.integer('node_id').nullable().references('id').inTable('nodes').onDelete('SET NULL');
    t.string('mac', 17).notNullable();
    t.bigInteger('at').notNullable();
    t.string('source', 16).notNullable();
    t.string('kind', 32).notNullable();
    t.string('outcome', 32).notNullable();
    t.text('detail').notNullable();
    t.index(['mac', 'id']);
    t.index(['at']);
    t.index(['node_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('boot_events');
}
