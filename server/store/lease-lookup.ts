import type { Knex } from 'knex';

/**
 * The address homeport's full-mode DHCP has leased to a MAC right now, or
 * null (auth.bindSource: lease binds install rounds to it).
 */
export async function boundLeaseIp(knex: Knex, mac: string, now: number): Promise<string | null> {
  const row = (await knex('leases').where({ mac, state: 'bound' }).andWhere('expires_at', '>', now).first('ip')) as
    { ip: string } | undefined;
  return row?.ip ?? null;
}
