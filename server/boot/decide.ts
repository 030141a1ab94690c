import { chooseProfile, type Group, type MachineFacts } from './profiles.js';

/**
 * What a machine asking for its iPXE script gets. Pure: the route looks the
 * node up, asks here, and carries the decision out.
 */
export const UNKNOWN_POLICIES = ['discover', 'default', 'deny'] as const;
export type UnknownPolicy = (typeof UNKNOWN_POLICIES)[number];

export interface BootPolicy {
  unknown: UnknownPolicy;
  groups: readonly Group[];
  defaultProfile: string | undefined;
  /** Names of the profiles that exist. */
  profiles: ReadonlySet<string>;
}

export type BootDecision =
  /** Install: boot this profile. */
  | { kind: 'install'; profile: string; via: 'node' | 'group' | 'default' }
  /** Netboot is off (installed, boot-once): boot the local disk. */
  | { kind: 'local' }
  /** Nothing to boot yet: wait and ask again. */
  | { kind: 'wait'; reason: string }
  /** Unknown machine under `deny`: leave iPXE for the next boot device. */
  | { kind: 'deny' }
  /** Unknown machine under `discover`: register it, then decide again. */
  | { kind: 'discover' }
  /** A configuration mistake the admin must fix (a node names a missing profile). */
  | { kind: 'error'; reason: string };

export interface KnownNode extends MachineFacts {
  netbootEnabled: boolean;
}

export function decideBoot(policy: BootPolicy, node: KnownNode | null, facts: MachineFacts): BootDecision {
  if (!node) {
    if (policy.unknown === 'deny') return { kind: 'deny' };
    if (policy.unknown === 'discover') return { kind: 'discover' };
    return installOrWait(policy, facts);
  }
  if (!node.netbootEnabled) return { kind: 'local' };
  return installOrWait(policy, node);
}

function installOrWait(policy: BootPolicy, machine: MachineFacts): BootDecision {
  const choice = chooseProfile(machine, policy.groups, policy.defaultProfile);
  if (!choice)
    return {
      kind: 'wait',
      reason: 'no profile assigned: set the node profile, a boot.groups selector or boot.defaultProfile',
    };
  if (!policy.profiles.has(choice.name))
    return { kind: 'error', reason: `profile ${choice.name} (${choice.via}) does not exist` };
  return { kind: 'install', profile: choice.name, via: choice.via };
}
