import type { Knex } from 'knex';

/**
 * Jobs as seed 002/004 describe them: named stages with their state, a
 * bounded console log, a cancel request a running job honours at its next
 * stage boundary, the nodes and cluster a job is about (for filtering), and
 * when it started and ended. `paused` joins the statuses: a rolling
 * reprovision stops there when a batch fails, until an admin retries it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.text('stages'); // JSON: [{name, state, percent, message, data, started_at, ended_at}]
    t.text('log'); // the console log, newest last, bounded
    t.boolean('cancel_requested').notNullable().defaultTo(false);
    t.integer('max_attempts');
    t.string('cluster', 64);
    t.text('node_ids'); // ",3,7,12," so one LIKE finds a node's jobs
    t.bigInteger('started_at');
    t.bigInteger('finished_at');
    t.index(['type', 'status']);
    t.index(['cluster']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropIndex(['type', 'status']);
    t.dropIndex(['cluster']);
    for (const column of [
      'stages',
      'log',
      'cancel_requested',
      'max_attempts',
      'cluster',
      'node_ids',
      'started_at',
      'finished_at',
    ])
      t.dropColumn(column);
  });
}
