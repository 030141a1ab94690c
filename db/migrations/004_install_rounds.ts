import type { Knex } from 'knex';
import { newRoundNonce } from '../../server/auth/rounds.js';

/**
 * Install rounds (the trust model): a node's phone-home token and its
 * rendered secrets are valid only while its round is open, and only for the
 * address the round is bound to.
 * - round_nonce: the round's random value; the token is HMAC(secret, mac,
 *   nonce), so neither this table nor the secret alone yields a token.
 *   A new round is a new nonce: every earlier token dies with it.
 * - round_closes_at: null while open; set when the node reports deployed
 *   (plus a grace) or failed.
 * - round_bound_ip: the address the round's first secret-bearing call came
 *   from (or the lease address); later calls from elsewhere are refused.
 * - observed_ip: the last bound address, kept across rounds: what homeport
 *   connects to when no admin set `ip`.
 * - reported_ip: what the installer said its address is; shown, never followed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('nodes', (t) => {
    t.string('round_nonce', 64);
    t.bigInteger('round_opened_at');
    t.bigInteger('round_closes_at');
    t.string('round_bound_ip', 45);
    t.string('observed_ip', 45);
    t.string('reported_ip', 45);
  });
  // Nodes that were waiting to install when homeport was upgraded keep
  // installing: each gets an open round of its own.
  const waiting = await knex('nodes').where({ netboot_enabled: true }).select('id');
  const now = Date.now();
  for (const { id } of waiting as { id: number }[]) {
    await knex('nodes').where({ id }).update({ round_nonce: newRoundNonce(), round_opened_at: now });
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('nodes', (t) => {
    for (const column of [
      'round_nonce',
      'round_opened_at',
      'round_closes_at',
      'round_bound_ip',
      'observed_ip',
      'reported_ip',
    ])
      t.dropColumn(column);
  });
}
