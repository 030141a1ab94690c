import { nodeAddress } from '../nodes/address.js';
import fs from 'node:fs';
import type { Node } from '../store/nodes-repo.js';
import type { SshClient } from '../ssh/client.js';
import type { ReprovisionSettings } from './config.js';
import { RedfishClient } from './redfish.js';

/** `pxe`: restart into a network boot (what a reprovision does). */
export const POWER_ACTIONS = ['on', 'off', 'reset', 'pxe'] as const;
export type PowerAction = (typeof POWER_ACTIONS)[number];

/** How homeport powers a machine: a reprovision's restart, and the power job. */
export interface PowerControl {
  readonly method: ReprovisionSettings['method'];
  /** Restarts into a network boot. Resolves with what was done; rejects with a message fit for the node's history. */
  restart(node: Node): Promise<string>;
  act(node: Node, action: PowerAction): Promise<string>;
  /** What the method needs of a node (IP, BMC label); null when it has it. */
  missing(node: Node): string | null;
  close(): Promise<void>;
}

export function createPowerControl(settings: ReprovisionSettings, ssh: SshClient): PowerControl {
  switch (settings.method) {
    case 'ssh':
      return sshPower(ssh, settings.rebootCommand);
    case 'redfish':
      return redfishPower(settings);
    case 'none':
      return {
        method: 'none',
        // Read after "restart: " in the node's history and the job log.
        restart: async () => 'left to you (reprovision.method none): power-cycle the machine',
        act: async (_node, action) => `no power control (reprovision.method none): do "${action}" by hand`,
        missing: () => null,
        close: async () => undefined,
      };
  }
}

/**
 * `reboot` over SSH. netboot is already on, so the machine comes back into
 * PXE only if its firmware boots the network first; otherwise use Redfish.
 * The connection may drop before `reboot` reports back: that is the reboot.
 */
function sshPower(ssh: SshClient, rebootCommand: string): PowerControl {
  const run = async (node: Node, command: string) => {
    const address = nodeAddress(node);
    if (!address) throw new Error('no IP address to reach it over SSH');
    const result = await ssh.exec(address, command);
    if (result.code !== 0 && result.code !== null)
      throw new Error(`\`${command}\` exited ${result.code}: ${result.stderr.trim().split('\n').pop() ?? ''}`);
    return `${command} over ssh`;
  };
  return {
    method: 'ssh',
    restart: (node) => run(node, rebootCommand),
    async act(node, action) {
      if (action === 'on') throw new Error('cannot power a machine on over SSH: use reprovision.method redfish');
      return run(node, action === 'off' ? 'poweroff' : rebootCommand);
    },
    missing: (node) => (nodeAddress(node) ? null : 'no IP address to reach it over SSH'),
    close: async () => undefined,
  };
}

/**
 * The BMC address comes from the node's label (redfish.bmcLabel, default
 * `bmc`). What this returns or throws lands in the node's history and job
 * results, which readers see: the address is named by its label there, never
 * written out (a BMC is the machine's power switch and console).
 */
function redfishPower(settings: ReprovisionSettings): PowerControl {
  const { redfish } = settings;
  let client: RedfishClient | null = null;
  // The password file is read on first use, so a server without Redfish nodes starts without one.
  const connect = () => (client ??= new RedfishClient(redfish, readPassword(redfish.passwordFile)));
  const via = `its BMC (label ${redfish.bmcLabel})`;
  const onBmc = async (node: Node, call: (bmc: string) => Promise<void>) => {
    const bmc = node.labels[redfish.bmcLabel];
    if (!bmc) throw new Error(`no BMC address: set the node's label ${redfish.bmcLabel}`);
    try {
      await call(bmc);
    } catch (err) {
      throw new Error((err as Error).message.split(bmc).join(`<${redfish.bmcLabel}>`), { cause: err });
    }
  };
  const control: PowerControl = {
    method: 'redfish',
    async restart(node) {
      await onBmc(node, (bmc) => connect().pxeOnceAndReset(bmc));
      return `redfish ${redfish.resetType} with boot override Pxe once via ${via}`;
    },
    async act(node, action) {
      if (action === 'pxe') return control.restart(node);
      const resetType = { on: 'On', off: 'ForceOff', reset: redfish.resetType }[action];
      await onBmc(node, (bmc) => connect().reset(bmc, resetType));
      return `redfish ${resetType} via ${via}`;
    },
    missing: (node) =>
      node.labels[redfish.bmcLabel] ? null : `no BMC address: set the node's label ${redfish.bmcLabel}`,
    close: async () => client?.close(),
  };
  return control;
}

function readPassword(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new Error(
      `cannot read the Redfish password file ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); set reprovision.redfish.passwordFile`,
      { cause: err },
    );
  }
}
