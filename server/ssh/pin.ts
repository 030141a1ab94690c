import type { Logger } from '../log/logger.js';
import type { Node } from '../store/nodes-repo.js';
import type { HostKeysRepo, PinOutcome } from '../store/host-keys.js';
import { keyFingerprint, type HostKey } from './host-keys.js';

export type HostKeyPinner = (node: Node, keys: readonly HostKey[]) => Promise<PinOutcome>;

/** What the register route calls with a body's host_keys: pin them for the node's install round, and say so in the log. */
export function createHostKeyPinner(
  hostKeys: Pick<HostKeysRepo, 'save'>,
  clock: () => number,
  log: Logger,
): HostKeyPinner {
  return async (node, keys) => {
    const fingerprints = keys.map(keyFingerprint);
    const pinned = keys.map((key, i) => ({ ...key, fingerprint: fingerprints[i]! }));
    const outcome = await hostKeys.save(node.id, pinned, installRoundOf(node), clock());
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

/**
 * The install round a register call belongs to, named by when it opened (the
 * round's nonce is a secret and stays on the node row); a node from before
 * rounds existed falls back to its creation.
 */
export function installRoundOf(node: { registeredAt: number; roundOpenedAt: number | null }): string {
  return node.roundOpenedAt !== null ? `round:${node.roundOpenedAt}` : `registered:${node.registeredAt}`;
}
