import type { Knex } from 'knex';

/**
 * SSH host keys pinned from a node's install (issue 17): the post-install
 * client sends the machine's /etc/ssh/ssh_host_*_key.pub with its register
 * call; homeport then accepts only these keys when it connects to the node.
 * A table of its own, not columns on nodes: the node row is written on every
 * phase report and need not carry key blobs. `round` names the install round
 * that pinned the keys: within one round the first keys stay (trust on first
 * use), a new round may pin new ones (a reinstall generates new host keys).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('node_host_keys', (t) => {
    t.bigIncrements('id').primary();
    t.integer('node_id').notNullable().references('id').inTable('nodes').onDelete('CASCADE');
    t.string('key_type', 64).notNullable();
    t.text('key').notNullable(); // base64 of the public key blob, as in an OpenSSH .pub line
    t.string('fingerprint', 64).notNullable(); // SHA256:..., as ssh-keygen -lf prints it
    t.string('round', 64).notNullable();
    t.bigInteger('pinned_at').notNullable();
    t.index(['node_id']);
  });
  // The discovery cap counts open discoveries on every unknown boot request.
  await knex.schema.alterTable('nodes', (t) => t.index(['status']));
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('nodes', (t) => t.dropIndex(['status']));
  await knex.schema.dropTableIfExists('node_host_keys');
}
