import fs from 'node:fs';
import type { Node } from '../store/nodes-repo';
import type { SshClient } from '../ssh/client';
import type { ReprovisionSettings } from './config';
import { RedfishClient } from './redfish';

/** How a reprovision restarts a machine into a network boot. */
export interface PowerControl {
  readonly method: ReprovisionSettings['method'];
  /** Resolves with what was done; rejects with a message fit for the node's history. */
  restart(node: Node): Promise<string>;
  close(): Promise<void>;
}

export function createPowerControl(settings: ReprovisionSettings, ssh: SshClient): PowerControl {
  switch (settings.method) {
    case 'ssh':
      return sshPower(ssh, settings.rebootCommand);
    case 'redfish':
      return redfishPower(settings);
    case 'none':
      return { method: 'none', restart: async () => 'no restart (reprovision.method none): power-cycle the machine', close: async () => undefined };
  }
}

/**
 * `reboot` over SSH. netboot is already on, so the machine comes back into
 * PXE only if its firmware boots the network first; otherwise use Redfish.
 * The connection may drop before `reboot` reports back: that is the reboot.
 */
function sshPower(ssh: SshClient, rebootCommand: string): PowerControl {
  return {
    method: 'ssh',
    async restart(node) {
      if (!node.ip) throw new Error('no IP address to reach it over SSH');
      const result = await ssh.exec(node.ip, rebootCommand);
      if (result.code !== 0 && result.code !== null) throw new Error(`\`${rebootCommand}\` exited ${result.code}: ${result.stderr.trim().split('\n').pop() ?? ''}`);
      return `${rebootCommand} over ssh`;
    },
    close: async () => undefined,
  };
}

/** The BMC address comes from the node's label (redfish.bmcLabel, default `bmc`). */
function redfishPower(settings: ReprovisionSettings): PowerControl {
  const { redfish } = settings;
  let client: RedfishClient | null = null;
  // The password file is read on first use, so a server without Redfish nodes starts without one.
  const connect = () => (client ??= new RedfishClient(redfish, readPassword(redfish.passwordFile)));
  return {
    method: 'redfish',
    async restart(node) {
      const bmc = node.labels[redfish.bmcLabel];
      if (!bmc) throw new Error(`no BMC address: set the node's label ${redfish.bmcLabel}`);
      await connect().pxeOnceAndReset(bmc);
      return `redfish ${redfish.resetType} with boot override Pxe once via ${bmc}`;
    },
    close: async () => client?.close(),
  };
}

function readPassword(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(`cannot read the Redfish password file ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); set reprovision.redfish.passwordFile`);
  }
}
