import type { Knex } from 'knex';
import type { Logger } from '../log/logger.js';
import type { Node } from '../store/nodes-repo.js';
import { installRoundOf, saveHostKeys, type PinOutcome } from '../store/host-keys.js';
import { keyFingerprint, type HostKey } from './host-keys.js';

export type HostKeyPinner = (node: Node, keys: readonly HostKey[]) => Promise<PinOutcome>;

/** What the register route calls with a body's host_keys: pin them for the node's install round, and say so in the log. */
export function createHostKeyPinner(knex: Knex, clock: () => number, log: Logger): HostKeyPinner {
  return async (node, keys) => {
    const outcome = await saveHostKeys(knex, node.id, keys, installRoundOf(node), clock());
    const fingerprints = keys.map(keyFingerprint);
    if (outcome === 'pinned')
      log.info({ node: node.id, mac: node.mac, fingerprints }, 'ssh host keys pinned for this install round');
    // Other keys within the round: the first ones stay (trust on first use); worth an admin's look.
    if (outcome === 'kept')
      log.warn(
        { node: node.id, mac: node.mac, offered: fingerprints },
        'register sent other ssh host keys within the same install round: kept the pinned ones',
      );
    return outcome;
  };
}
