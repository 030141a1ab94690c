/**
 * `homeport doctor`: gathers the facts (probes.ts, dhcp-offers.ts) and runs
 * the checks (checks.ts) in the order a machine meets them. Reads only: it
 * creates no database, token or file, and sends one DHCP DISCOVER.
 */
import { loadBootCatalog } from '../boot/catalog.js';
import type { BootCatalog, LoadedProfile } from '../boot/catalog.js';
import type { ContextNode } from '../boot/context.js';
import { profileContext, renderInstallScript } from '../boot/service.js';
import { loadConfig } from '../config/load.js';
import { ConfigError } from '../kernel/config-error.js';
import type { Config } from '../config/schema.js';
import { machineBaseUrl, tftpRoots } from '../app/netboot.js';
import {
  catalogCheck,
  configCheck,
  databaseCheck,
  firmwareKinds,
  interfaceCheck,
  ipxeBinaryCheck,
  nodeProfilesCheck,
  otherDhcpCheck,
  portCheck,
  portsToCheck,
  profileFilesCheck,
  sshHostKeysCheck,
  installRoundsCheck,
  unpinnedNodesCheck,
  reservationsCheck,
  templatesCheck,
  type CheckResult,
  type DhcpProbe,
  type NodeProfile,
  type RenderOutcome,
} from './checks.js';
import { probeOffers } from './dhcp-offers.js';
import {
  databaseFacts,
  homeportHealthz,
  reservationFacts,
  unpinnedFacts,
  interfaceFacts,
  interfaceMac,
  lookupAsset,
  lookupBinary,
  probePort,
} from './probes.js';

export interface DoctorOptions {
  configFile?: string;
  env?: NodeJS.ProcessEnv;
  /** How long to listen for DHCP offers; dnsmasq ping-checks an address for about 3 s before offering it. */
  dhcpWaitMs: number;
  /** Called with each result as soon as it is known (the CLI prints as it goes). */
  onResult?: (result: CheckResult) => void;
}

export async function runDoctor(options: DoctorOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const report = (result: CheckResult) => {
    results.push(result);
    options.onResult?.(result);
  };
  let config: Config;
  try {
    const loaded = loadConfig(options.configFile, options.env);
    config = loaded.config;
    report(configCheck({ file: loaded.file }));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    report(configCheck({ error: err.message }));
    return results; // every other check reads the config
  }

  report(sshHostKeysCheck(config.ssh));
  report(installRoundsCheck(config.auth));
  const database = await databaseFacts(config.database);
  report(databaseCheck(database));
  const facts = config.dhcp.interface ? interfaceFacts(config.dhcp.interface) : null;
  report(interfaceCheck(config.dhcp, facts));
  report(reservationsCheck(await reservationFacts(config)));
  report(unpinnedNodesCheck(await unpinnedFacts(config)));
  for (const use of portsToCheck(config))
    report(portCheck(use, await probePort(use, () => homeportHealthz(config.http))));
  const roots = tftpRoots(config);
  for (const kind of firmwareKinds(config.dhcp.bootFiles)) {
    const searched = kind.via === 'tftp' ? roots : [config.boot.ipxeDir];
    report(ipxeBinaryCheck(kind, await lookupBinary(kind, roots, config.boot.ipxeDir), searched));
  }
  const nodeProfiles = database.state === 'reachable' ? (database.nodeProfiles ?? null) : null;
  for (const result of await profileChecks(config, nodeProfiles)) report(result);
  report(
    otherDhcpCheck(
      config.dhcp.mode,
      config.dhcp.serverIp,
      await dhcpProbe(config, options.dhcpWaitMs, facts?.exists ?? false),
    ),
  );
  return results;
}

/** `nodeProfiles`: null when the database could not tell. */
async function profileChecks(config: Config, nodeProfiles: NodeProfile[] | null): Promise<CheckResult[]> {
  let catalog: BootCatalog;
  try {
    catalog = loadBootCatalog(config.boot);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return [catalogCheck({ error: err.message })];
  }
  const results = [catalogCheck({ profiles: [...catalog.keys()] })];
  if (nodeProfiles) results.push(nodeProfilesCheck([...catalog.keys()], nodeProfiles));
  const baseUrl = machineBaseUrl(config, config.http.port) ?? `http://192.0.2.1:${config.http.port}`;
  for (const loaded of catalog.values()) {
    const refs = [loaded.profile.kernel, ...loaded.profile.initrds].filter((ref): ref is string => ref !== undefined);
    const assets = await Promise.all(refs.map((ref) => lookupAsset(ref, config.boot.assetsDir)));
    const routed =
      config.boot.defaultProfile === loaded.name || config.boot.groups.some((g) => g.profile === loaded.name);
    results.push(profileFilesCheck(loaded.name, loaded.ipxe ? [] : assets, config.boot.assetsDir, routed));
    results.push(templatesCheck(loaded.name, renderForSample(loaded, baseUrl)));
  }
  return results;
}

/** A node as a freshly installed machine looks: every field set, so a template that is fine for a real node renders. */
function sampleNode(profile: string): ContextNode {
  return {
    id: 1,
    mac: '02:00:00:00:00:01',
    hostname: 'sample-node',
    ip: '192.0.2.10',
    uuid: '00000000-0000-4000-8000-000000000001',
    arch: 'x86_64',
    type: null,
    cluster: 'sample-cluster',
    profile,
    status: 'registered',
    labels: {},
  };
}

/** The install script and every install config of a profile, rendered as homeport would serve them. */
function renderForSample(loaded: LoadedProfile, baseUrl: string): RenderOutcome[] {
  const context = profileContext(loaded, sampleNode(loaded.name), baseUrl, 'doctor-sample-round-token');
  const attempt = (template: string, render: () => string): RenderOutcome => {
    try {
      render();
      return { template, error: null };
    } catch (err) {
      return { template, error: (err as Error).message };
    }
  };
  return [
    attempt(loaded.ipxe ? loaded.ipxe.name : 'install script', () => renderInstallScript(loaded, context)),
    ...[...loaded.configs].map(([name, template]) =>
      attempt(`config ${name} (${template.name})`, () => template.render(context)),
    ),
  ];
}

async function dhcpProbe(config: Config, waitMs: number, interfaceExists: boolean): Promise<DhcpProbe> {
  const { mode, interface: ifname, serverIp } = config.dhcp;
  if (mode === 'off' || !ifname || !serverIp) return { state: 'skipped', reason: 'dhcp.mode is off' };
  const mac = interfaceExists ? interfaceMac(ifname) : null;
  if (!mac) return { state: 'skipped', reason: `no interface ${ifname} to send from` };
  return probeOffers({ serverIp, mac, waitMs });
}
