import { roundToken } from '../auth/rounds.js';
import type { Clock } from '../kernel/clock.js';
import type { Logger } from '../log/logger.js';
import type { BootFacts, NodesService } from '../nodes/service.js';
import type { Node } from '../store/nodes-repo.js';
import type { BootCatalog, LoadedProfile } from './catalog.js';
import { assetUrl, buildContext, imageName, type ContextNode, type TemplateContext } from './context.js';
import { admitDiscovery, type DiscoveryGate } from './discovery.js';
import { decideBoot, type BootDecision, type BootPolicy } from './decide.js';
import { escapeFor } from './escape.js';
import {
  denyScript,
  errorScript,
  installScript,
  localBootScript,
  refusedScript,
  waitScript,
  type LocalBootInput,
} from './ipxe.js';
import { chooseProfile, type MachineFacts } from './profiles.js';

/**
 * What homeport serves a booting machine, with the side effects: a machine
 * met for the first time under `discover` (or `default`) is registered with
 * an install round, uuid/arch reported by iPXE are stored, and serving an
 * install script or config records the `ipxe_boot` / `config_download`
 * phase (through NodesService, group commit). Scripts and configs carry the
 * round's token and the profile's secrets, so they are rendered only while
 * the node's round is open and only for the address it is bound to.
 */
export interface BootServiceOptions {
  nodes: NodesService;
  catalog: BootCatalog;
  policy: BootPolicy;
  localBoot: Omit<LocalBootInput, 'mac'>;
  log: Logger;
  /** For the boot-fetch window; Date.now by default. */
  clock?: Clock;
  /** Caps open discoveries (boot.discoverLimit); none: unbounded. */
  discovery?: DiscoveryGate;
}

/**
 * A node that fetched its install script this recently, and has reported
 * nothing since, is in the same boot attempt (iPXE retrying, a chain that
 * loops): its `ipxe_boot` is on record already, so the script is served
 * without another history row. A real reboot reports later phases in
 * between, or comes after this window.
 */
export const BOOT_FETCH_WINDOW_MS = 60_000;

export function isRepeatedBootFetch(
  node: Pick<Node, 'deploymentStatus' | 'deploymentPhaseStatus' | 'lastUpdate'>,
  now: number,
): boolean {
  return (
    node.deploymentStatus === 'ipxe_boot' &&
    node.deploymentPhaseStatus === 'completed' &&
    now - node.lastUpdate < BOOT_FETCH_WINDOW_MS
  );
}

/** What iPXE tells us about itself in the entry script's query string. */
export type IpxeFacts = BootFacts;

export interface Served {
  kind: BootDecision['kind'] | 'refused';
  body: string;
  /** Why this script (for the boot timeline): the decision's reason, or the profile and the rule that chose it. */
  why?: { reason?: string; profile?: string; via?: string };
}

export class ConfigNotFound extends Error {}

/** Scripts kept per node row (one per base URL and iPXE facts; a machine asks with one of each). */
const RENDERED_PER_NODE = 4;

export class BootService {
  private readonly rendered = new WeakMap<Node, Map<string, string>>();

  constructor(private readonly options: BootServiceOptions) {}

  /** The per-MAC iPXE script. */
  async scriptFor(mac: string, facts: IpxeFacts, baseUrl: string, sourceIp: string): Promise<Served> {
    let node = await this.options.nodes.byMac(mac);
    const machine: MachineFacts = { mac, ...facts, cluster: null, labels: {}, profile: null };
    // Stored facts win; what this request says only fills gaps, and is
    // written only for the machine its round admits (a GET from a stranger
    // changes nothing).
    let decision = decideBoot(this.options.policy, node && withFacts(node, facts), machine);
    if (decision.kind === 'discover' || (!node && decision.kind === 'install')) {
      // An unknown machine under `default` is registered too (its install
      // needs a round of its own), within the same discovery cap.
      const admitted = await admitDiscovery(this.options.discovery, () => this.discover(mac, facts));
      if (!admitted.ok)
        return { kind: 'wait', body: waitScript({ mac, reason: admitted.reason }), why: { reason: admitted.reason } };
      node = admitted.value;
      decision = decideBoot(this.options.policy, node, node);
    }
    if (decision.kind === 'install' && node) {
      const admitted = await this.options.nodes.admitToRound(node, sourceIp);
      if (!admitted.ok) return this.refuse(node.mac, admitted.reason, sourceIp);
      node = await this.options.nodes.rememberFacts(admitted.node, facts);
    }
    return {
      kind: decision.kind,
      body: await this.scriptForDecision(decision, node, machine, baseUrl, sourceIp),
      why: whyOf(decision),
    };
  }

  private refuse(mac: string, reason: string, sourceIp: string): Served {
    this.options.log.warn({ mac, client: sourceIp, reason }, 'boot script refused by the install round');
    return { kind: 'refused', body: refusedScript({ mac, reason }), why: { reason } };
  }

  private async scriptForDecision(
    decision: BootDecision,
    node: Node | null,
    machine: MachineFacts,
    baseUrl: string,
    sourceIp: string,
  ): Promise<string> {
    switch (decision.kind) {
      case 'install': {
        const loaded = this.options.catalog.get(decision.profile)!;
        const body = this.installScriptFor(loaded, node, machine, baseUrl);
        if (node && !isRepeatedBootFetch(node, (this.options.clock ?? Date.now)()))
          await this.record(node, 'ipxe_boot', `served profile ${loaded.name} (${decision.via})`, sourceIp);
        return body;
      }
      case 'local':
        return localBootScript({ mac: machine.mac, ...this.options.localBoot });
      case 'wait':
        return waitScript({ mac: machine.mac, reason: decision.reason });
      case 'deny':
        return denyScript({ mac: machine.mac });
      case 'error':
        this.options.log.warn({ mac: machine.mac, reason: decision.reason }, 'boot script refused');
        return errorScript(decision.reason);
      case 'discover':
        throw new Error('discover is decided before rendering');
    }
  }

  /**
   * The install script, rendered once per node row: a node as the nodes
   * service last wrote it is one object (its cache's), and any change to it
   * is a new object, so a script rendered for that object stays right. A
   * rack that asks again and again costs a lookup, not a render.
   */
  private installScriptFor(loaded: LoadedProfile, node: Node | null, machine: MachineFacts, baseUrl: string): string {
    const render = () => renderInstallScript(loaded, this.context(loaded, node, machine, baseUrl));
    if (!node) return render();
    const key = `${loaded.name}\n${baseUrl}\n${machine.uuid}\n${machine.arch}`;
    let scripts = this.rendered.get(node);
    if (!scripts || scripts.size >= RENDERED_PER_NODE) this.rendered.set(node, (scripts = new Map()));
    let body = scripts.get(key);
    if (body === undefined) scripts.set(key, (body = render()));
    return body;
  }

  /**
   * A rendered install config; throws ConfigNotFound when the node has no
   * such config, or when its round does not admit this request (no open
   * round, a deployed node, another address): nothing is rendered then.
   */
  async configFor(mac: string, name: string, baseUrl: string, sourceIp: string): Promise<string> {
    let node = await this.options.nodes.byMac(mac);
    if (!node) throw new ConfigNotFound(`no node ${mac}`);
    const choice = chooseProfile(node, this.options.policy.groups, this.options.policy.defaultProfile);
    const loaded = choice ? this.options.catalog.get(choice.name) : undefined;
    if (!loaded) throw new ConfigNotFound(`node ${mac} has no profile`);
    const template = loaded.configs.get(name);
    if (!template)
      throw new ConfigNotFound(
        `profile ${loaded.name} has no config ${name} (it has: ${[...loaded.configs.keys()].join(', ') || 'none'})`,
      );
    // Within the grace after `deployed` the round still takes late reports, but the install is over: no config.
    const admitted = this.options.nodes.isDeployed(node.deploymentStatus, node.deploymentPhaseStatus)
      ? { ok: false as const, reason: `${mac} is deployed` }
      : await this.options.nodes.admitToRound(node, sourceIp);
    if (!admitted.ok) {
      this.options.log.warn(
        { mac, client: sourceIp, config: name, reason: admitted.reason },
        'config refused by the install round',
      );
      throw new ConfigNotFound(`no config ${name} for ${mac} here: ${admitted.reason}`);
    }
    node = admitted.node;
    const body = template.render(this.context(loaded, node, node, baseUrl));
    await this.record(node, 'config_download', `served config ${name}`, sourceIp);
    // Only the bound address reaches this line, within the open round: a
    // stranger's fetch cannot turn netboot off.
    if (loaded.profile.netbootOffAfter === name && node.netbootEnabled)
      await this.options.nodes.update(node.id, { netbootEnabled: false });
    return body;
  }

  private context(loaded: LoadedProfile, node: Node | null, machine: MachineFacts, baseUrl: string): TemplateContext {
    const token = node?.roundNonce ? roundToken(this.options.nodes.rounds.secret, node.mac, node.roundNonce) : '';
    return profileContext(loaded, contextNode(node, machine), baseUrl, token);
  }

  private async record(node: Node, phase: string, message: string, sourceIp: string): Promise<void> {
    await this.options.nodes.reportPhase(
      { id: node.id },
      { phase, status: 'completed', message, source: 'server', sourceIp },
    );
  }

  /** Registers an unknown machine as discovered; a concurrent request may have done so first. */
  private async discover(mac: string, facts: IpxeFacts): Promise<Node> {
    try {
      const node = await this.options.nodes.create(mac, { status: 'discovered', uuid: facts.uuid, arch: facts.arch });
      this.options.log.info({ mac }, 'discovered a new machine');
      return node;
    } catch (err) {
      const existing = await this.options.nodes.byMac(mac);
      if (existing) return existing;
      throw err;
    }
  }
}

/** The template data a profile's templates see for one node, with its round's token. */
export function profileContext(
  loaded: LoadedProfile,
  node: ContextNode,
  baseUrl: string,
  token: string,
): TemplateContext {
  return buildContext({ node, profileName: loaded.name, profile: loaded.profile, baseUrl, token });
}

/** A profile's install script: its own iPXE template, or the kernel/initrd/args builder. Also used by `homeport doctor` on a sample node. */
export function renderInstallScript(loaded: LoadedProfile, context: TemplateContext): string {
  if (loaded.ipxe) return loaded.ipxe.render(context);
  const { baseUrl } = context.server;
  const image = (ref: string) => ({
    url: escapeFor('ipxe', assetUrl(baseUrl, ref), 'kernel/initrd URL'),
    name: escapeFor('ipxe', imageName(ref), 'kernel/initrd name'),
  });
  return installScript({
    mac: context.node.mac,
    profile: loaded.name,
    kernel: image(loaded.profile.kernel!),
    initrds: loaded.profile.initrds.map(image),
    args: loaded.args.render(context),
  });
}

function whyOf(decision: BootDecision): Served['why'] {
  switch (decision.kind) {
    case 'install':
      return { profile: decision.profile, via: decision.via };
    case 'wait':
    case 'error':
      return { reason: decision.reason };
    case 'deny':
      return { reason: 'unknown machine, boot.unknown=deny' };
    case 'local':
      return { reason: 'netboot is off for this node' };
    case 'discover':
      return {};
  }
}

function withFacts(node: Node, facts: IpxeFacts): Node {
  return { ...node, uuid: node.uuid ?? facts.uuid, arch: node.arch ?? facts.arch };
}

/** Template data for a node row, or for an unknown machine booted under `unknown: default`. */
function contextNode(node: Node | null, machine: MachineFacts): ContextNode {
  if (!node)
    return {
      id: null,
      mac: machine.mac,
      hostname: null,
      ip: null,
      uuid: machine.uuid,
      arch: machine.arch,
      type: null,
      cluster: null,
      profile: null,
      status: null,
      labels: {},
    };
  const { id, mac, hostname, ip, uuid, arch, type, cluster, profile, status, labels } = node;
  return { id, mac, hostname, ip, uuid, arch, type, cluster, profile, status, labels };
}
