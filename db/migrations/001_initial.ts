import type { Knex } from 'knex';

// All times are integer milliseconds since the epoch (bigint columns): one
// representation on SQLite and PostgreSQL, compared with plain < and >.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('clusters', (t) => {
    t.increments('id').primary();
    t.string('name', 63).notNullable().unique();
    t.string('driver', 32).notNullable().defaultTo('script'); // proxmox | k3s | script
    t.string('state', 32).notNullable().defaultTo('pending'); // pending | forming | formed | error
    t.integer('expected_nodes');
    t.text('last_error');
    t.bigInteger('formed_at');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('nodes', (t) => {
    t.increments('id').primary();
    t.string('mac', 17).notNullable().unique(); // lowercase, colon separated
    t.string('hostname', 253);
    t.string('ip', 45);
    t.string('uuid', 36);
    t.string('arch', 32);
    t.string('type', 32); // seed 000: node type, e.g. proxmox
    t.string('profile', 64);
    t.string('cluster', 63);
    t.text('labels').notNullable().defaultTo('{}'); // JSON object of string labels
    t.string('status', 32).notNullable().defaultTo('registered'); // registered | discovered | post-install-complete
    t.string('deployment_status', 32).notNullable().defaultTo('pending'); // current install phase
    t.string('deployment_phase_status', 16); // in_progress | completed | failed of that phase
    t.integer('progress'); // 0..100 within the phase, when the installer says
    t.string('reprovision_status', 16); // in_progress | completed | clustered | timeout | error
    t.boolean('netboot_enabled').notNullable().defaultTo(true);
    t.bigInteger('registered_at').notNullable();
    t.bigInteger('last_update').notNullable();
    t.bigInteger('phase_started_at');
    t.bigInteger('reprovision_started');
    t.integer('reprovision_timeout_min');
    t.index(['ip']);
    t.index(['cluster']);
    t.index(['deployment_status']);
  });

  await knex.schema.createTable('deployment_history', (t) => {
    t.bigIncrements('id').primary();
    t.integer('node_id').notNullable().references('id').inTable('nodes').onDelete('CASCADE');
    t.string('phase', 32).notNullable();
    t.string('status', 16).notNullable();
    t.text('message');
    t.integer('progress');
    t.string('source', 16).notNullable().defaultTo('installer'); // installer | server | dhcp | watcher | admin
    t.string('source_ip', 45);
    t.boolean('applied').notNullable().defaultTo(true); // false: late or duplicate, recorded only
    t.bigInteger('at').notNullable();
    t.index(['node_id', 'id']);
  });

  await knex.schema.createTable('leases', (t) => {
    t.increments('id').primary();
    t.string('mac', 17).notNullable().unique();
    t.string('ip', 45).notNullable().unique();
    t.string('hostname', 253);
    t.string('client_id', 255);
    t.string('state', 16).notNullable(); // offered | bound | declined | released
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('jobs', (t) => {
    t.bigIncrements('id').primary();
    t.string('type', 32).notNullable();
    t.text('params').notNullable().defaultTo('{}'); // JSON
    t.string('status', 16).notNullable().defaultTo('pending'); // pending | running | completed | failed | cancelled
    t.bigInteger('run_at').notNullable(); // not before
    t.string('claimed_by', 128);
    t.bigInteger('lease_until'); // a running job whose lease passed is reclaimable
    t.integer('attempts').notNullable().defaultTo(0);
    t.string('stage', 64);
    t.integer('percent');
    t.text('message');
    t.text('result'); // JSON
    t.text('error');
    t.string('dedupe_key', 128).unique(); // e.g. form_cluster:<name>:<generation>
    t.bigInteger('created_at').notNullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['status', 'run_at']);
  });

  await knex.schema.createTable('settings', (t) => {
    t.string('key', 64).primary();
    t.text('value').notNullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['settings', 'jobs', 'leases', 'deployment_history', 'nodes', 'clusters']) {
    await knex.schema.dropTableIfExists(table);
  }
}
