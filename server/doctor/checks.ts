/**
 * `homeport doctor` checks (pure): each takes the facts the runner gathered
 * (probes.ts) and says ok, warn or fail, what it saw, and what to do about it.
 * A warn is something that may stop some machines from booting; a fail is
 * something that stops homeport or every machine.
 */
import { Arch, DEFAULT_BOOT_FILES } from '../dhcp/boot-decision.js';
import type { Config } from '../config/schema.js';
import { describeConflict, type ReservationConflict, type SkippedReservation } from '../dhcp/reservations.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  /** What was seen. */
  detail: string;
  /** What to do; null when there is nothing to do. */
  fix: string | null;
}

const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail, fix: null });
const warn = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'warn', detail, fix });
const fail = (name: string, detail: string, fix: string): CheckResult => ({ name, status: 'fail', detail, fix });

/** 0 when nothing failed (warnings allowed), 1 otherwise. */
export function exitCodeFor(results: readonly CheckResult[]): number {
  return results.some((r) => r.status === 'fail') ? 1 : 0;
}

// ---------------------------------------------------------------- config

export type ConfigOutcome = { file: string | null } | { error: string };

export function configCheck(outcome: ConfigOutcome): CheckResult {
  const name = 'config';
  if ('error' in outcome)
    return fail(
      name,
      outcome.error,
      'fix the key named above; `homeport config check -c FILE` checks again without starting',
    );
  return ok(name, outcome.file ? `${outcome.file} is valid` : 'no config file: running on defaults');
}

/** Profiles and templates load (a bad profile stops `homeport serve`). */
export function catalogCheck(outcome: { profiles: string[] } | { error: string }): CheckResult {
  const name = 'boot profiles';
  if ('error' in outcome)
    return fail(name, outcome.error, 'fix the profile or template named above (boot.templatesDir, boot.profiles)');
  if (outcome.profiles.length === 0)
    return warn(
      name,
      'no profiles: every machine waits',
      'add profiles under boot.templatesDir/profiles or boot.profiles',
    );
  return ok(name, `${outcome.profiles.length} loaded: ${outcome.profiles.join(', ')}`);
}

/** ssh.hostKeys accept lets whoever answers at a node's address receive homeport's commands and secrets. */
export function sshHostKeysCheck(ssh: Pick<Config['ssh'], 'hostKeys'>): CheckResult {
  const name = 'ssh host keys';
  if (ssh.hostKeys === 'accept') {
    return warn(
      name,
      "ssh.hostKeys is accept: any host key is trusted, so a machine that takes over a node's address gets its commands and secrets (e.g. the k3s join token)",
      'set ssh.hostKeys to pinned (keys sent by the shipped homeport-register) or known_hosts',
    );
  }
  return ok(
    name,
    ssh.hostKeys === 'pinned'
      ? "pinned: only the keys each node's install reported (else ssh.knownHostsFile)"
      : 'known_hosts: only keys listed in ssh.knownHostsFile',
  );
}

/** The install rounds' trust settings (README Security model): warn where a stranger on the boot network gains. */
export function installRoundsCheck(auth: Pick<Config['auth'], 'openPhoneHome' | 'bindSource'>): CheckResult {
  const name = 'install rounds';
  const weak = [
    auth.openPhoneHome
      ? 'auth.openPhoneHome is on: phone-home calls need no token, so anyone on the boot network can report for an open round'
      : null,
    auth.bindSource === 'off'
      ? "auth.bindSource is off: a node's configs and token are rendered to any address during its round"
      : null,
  ].filter((w): w is string => w !== null);
  if (weak.length)
    return warn(
      name,
      weak.join('; '),
      'for trusted labs or NAT only; otherwise auth.openPhoneHome: false and auth.bindSource: first-use (or lease with full DHCP)',
    );
  return ok(
    name,
    `tokens per install round, bound to ${auth.bindSource === 'lease' ? "the MAC's DHCP lease" : 'the first address that uses them'}`,
  );
}

/**
 * Nodes naming a profile homeport does not have (added before profiles were checked
 * at input, or whose profile file was removed since): each only finds out when it boots.
 */
export function nodeProfilesCheck(known: readonly string[], nodes: readonly NodeProfile[]): CheckResult {
  const name = 'node profiles';
  const missing = nodes.filter((n) => !known.includes(n.profile));
  if (missing.length === 0) return ok(name, `${nodes.length} node(s) name a profile; all exist`);
  const listed = missing.map((n) => `${n.hostname ?? n.mac} (${n.mac}): ${n.profile}`).join(', ');
  return warn(
    name,
    `${missing.length} node(s) name a missing profile: ${listed}`,
    `give them a known profile (${known.join(', ') || 'none loaded'}): \`PATCH /api/nodes/ID {"profile": ...}\`, or add the profile under boot.templatesDir/profiles or boot.profiles`,
  );
}

// ---------------------------------------------------------------- database

export type DatabaseFacts =
  | { kind: 'sqlite'; where: string; state: 'missing' }
  | { kind: 'sqlite' | 'postgres'; where: string; state: 'unreachable'; error: string }
  | { kind: 'sqlite' | 'postgres'; where: string; state: 'reachable'; pending: string[]; nodeProfiles?: NodeProfile[] };

/** A node that names a boot profile. */
export interface NodeProfile {
  mac: string;
  hostname: string | null;
  profile: string;
}

export function databaseCheck(facts: DatabaseFacts): CheckResult {
  const name = 'database';
  switch (facts.state) {
    case 'missing':
      return warn(
        name,
        `no SQLite database yet at ${facts.where}`,
        '`homeport migrate` run as the service user (sudo -u homeport ...), or the first `homeport serve`, creates it; a database file created by root is not writable by the service',
      );
    case 'unreachable':
      return fail(
        name,
        `${facts.kind} ${facts.where}: ${facts.error}`,
        facts.kind === 'postgres'
          ? 'check database.url (or DATABASE_URL): PostgreSQL running, reachable from here, the user and database exist'
          : 'check that the file is a homeport SQLite database and the service user may read and write it and its directory',
      );
    case 'reachable':
      if (facts.pending.length > 0) {
        return warn(
          name,
          `${facts.kind} ${facts.where}: ${facts.pending.length} migration(s) not applied: ${facts.pending.join(', ')}`,
          '`homeport migrate` applies them (`homeport serve` does too when it starts)',
        );
      }
      return ok(name, `${facts.kind} ${facts.where}: reachable, schema up to date`);
  }
}

// ---------------------------------------------------------------- interface

export interface InterfaceFacts {
  exists: boolean;
  /** IPv4 addresses; null when the kernel lists none because the link is down or has no carrier. */
  addresses: string[] | null;
  /** Interfaces that do exist, for the fix. */
  available: string[];
}

export function interfaceCheck(
  dhcp: Pick<Config['dhcp'], 'mode' | 'interface' | 'serverIp'>,
  facts: InterfaceFacts | null,
): CheckResult {
  const name = 'interface';
  if (dhcp.mode === 'off' || !dhcp.interface || !dhcp.serverIp || !facts)
    return ok(name, 'dhcp.mode is off: no boot interface configured');
  const ifname = dhcp.interface;
  if (!facts.exists)
    return fail(
      name,
      `no network interface named ${ifname}`,
      `set dhcp.interface to the interface machines boot on (this host has: ${facts.available.join(', ') || 'none'})`,
    );
  if (facts.addresses === null) {
    return warn(
      name,
      `${ifname} is down or has no carrier, so its addresses cannot be read`,
      `ip link set ${ifname} up; a bridge has carrier once a port is up (homeport still starts: binding ${dhcp.serverIp} proves the address)`,
    );
  }
  if (!facts.addresses.includes(dhcp.serverIp)) {
    const has = facts.addresses.length ? `has ${facts.addresses.join(', ')}` : 'has no IPv4 address';
    return fail(
      name,
      `${ifname} ${has}, not dhcp.serverIp ${dhcp.serverIp}`,
      `set dhcp.serverIp to an address of ${ifname}, or add it: ip addr add ${dhcp.serverIp}/24 dev ${ifname}`,
    );
  }
  return ok(name, `${ifname} has ${dhcp.serverIp}`);
}

// ---------------------------------------------------------------- ports

export interface PortUse {
  proto: 'udp' | 'tcp';
  host: string;
  port: number;
  purpose: string;
}

export type PortProbe =
  | { state: 'free' }
  | { state: 'held'; owner: string | null; byHomeport: boolean }
  | { state: 'denied' }
  | { state: 'error'; message: string };

/** The ports `homeport serve` binds with this config (DHCP and TFTP only when enabled). */
export function portsToCheck(config: Pick<Config, 'http' | 'dhcp' | 'tftp'>): PortUse[] {
  const ports: PortUse[] = [];
  if (config.dhcp.mode !== 'off') {
    ports.push({ proto: 'udp', host: '0.0.0.0', port: config.dhcp.port, purpose: 'DHCP' });
    ports.push({ proto: 'udp', host: '0.0.0.0', port: config.dhcp.proxyPort, purpose: 'PXE boot server (proxyDHCP)' });
  }
  if (config.tftp.enabled)
    ports.push({ proto: 'udp', host: config.tftp.host, port: config.tftp.port, purpose: 'TFTP' });
  ports.push({ proto: 'tcp', host: config.http.host, port: config.http.port, purpose: 'HTTP' });
  return ports;
}

export function portCheck(use: PortUse, probe: PortProbe): CheckResult {
  const name = `port ${use.proto}/${use.port}`;
  const what = `${use.purpose} on ${use.host}:${use.port}`;
  switch (probe.state) {
    case 'free':
      return ok(name, `${what}: free`);
    case 'held':
      if (probe.byHomeport)
        return ok(name, `${what}: held by the running homeport${probe.owner ? ` (${probe.owner})` : ''}`);
      return fail(name, `${what}: in use by ${probe.owner ?? 'another process'}`, portFix(use, probe.owner));
    case 'denied':
      return warn(
        name,
        `${what}: cannot test, binding a port below 1024 needs root or CAP_NET_BIND_SERVICE`,
        'run `homeport doctor` as root (or with CAP_NET_BIND_SERVICE) to test this port',
      );
    case 'error':
      return fail(
        name,
        `${what}: ${probe.message}`,
        use.proto === 'tcp'
          ? 'check http.host: it must be an address of this host'
          : 'check the host address in the config: it must be an address of this host',
      );
  }
}

function portFix(use: PortUse, owner: string | null): string {
  const who = owner ? `stop ${owner}` : 'find the owner with `ss -lpn sport = :' + use.port + '` and stop it';
  if (use.purpose === 'DHCP')
    return `${who}, or keep it and run homeport beside it with dhcp.mode: proxy (it still needs port 67: disable the other server's DHCP on this interface)`;
  if (use.purpose === 'TFTP')
    return `${who} (homeport serves TFTP itself), or set tftp.enabled: false and let it serve the iPXE binaries`;
  return `${who}, or choose another port in the config`;
}

// ---------------------------------------------------------------- iPXE binaries

const ARCH_LABELS: Record<number, string> = {
  [Arch.BIOS]: 'BIOS',
  [Arch.EFI_IA32]: 'EFI ia32',
  [Arch.EFI_X64]: 'EFI x64',
  [Arch.EFI_BC]: 'EFI BC',
  [Arch.EFI_ARM64]: 'EFI arm64',
  [Arch.EFI_X64_HTTP]: 'EFI x64 HTTP boot',
  [Arch.EFI_ARM64_HTTP]: 'EFI arm64 HTTP boot',
};

/** The firmware the x86 machines most sites boot have: a missing binary for them is a failure, for the others a warning. */
const COMMON_ARCHES: ReadonlySet<number> = new Set([Arch.BIOS, Arch.EFI_X64, Arch.EFI_BC, Arch.EFI_X64_HTTP]);
const HTTP_BOOT_ARCHES: ReadonlySet<number> = new Set([Arch.EFI_X64_HTTP, Arch.EFI_ARM64_HTTP]);

export interface FirmwareKind {
  arch: number;
  label: string;
  file: string;
  /** tftp: fetched over TFTP from the TFTP roots; http: from /ipxe/ (boot.ipxeDir). */
  via: 'tftp' | 'http';
  /** Set in dhcp.bootFiles rather than a default. */
  configured: boolean;
}

/** Every firmware kind homeport hands a boot file to: the defaults overlaid with dhcp.bootFiles. */
export function firmwareKinds(bootFiles: Config['dhcp']['bootFiles']): FirmwareKind[] {
  const configured = Object.fromEntries(Object.entries(bootFiles).map(([arch, file]) => [Number(arch), file]));
  const merged: Record<number, string> = { ...DEFAULT_BOOT_FILES, ...configured };
  return Object.entries(merged)
    .map(([archText, file]) => {
      const arch = Number(archText);
      return {
        arch,
        label: ARCH_LABELS[arch] ?? `arch ${arch}`,
        file,
        via: HTTP_BOOT_ARCHES.has(arch) ? ('http' as const) : ('tftp' as const),
        configured: arch in configured,
      };
    })
    .sort((a, b) => a.arch - b.arch);
}

export type BinaryLookup =
  { state: 'found'; path: string } | { state: 'refused'; reason: string } | { state: 'missing' };

export function ipxeBinaryCheck(kind: FirmwareKind, lookup: BinaryLookup, searched: readonly string[]): CheckResult {
  const name = `ipxe ${kind.label} (arch ${kind.arch})`;
  const served = kind.via === 'tftp' ? 'over TFTP' : 'at /ipxe/';
  if (lookup.state === 'found') return ok(name, `${kind.file} served ${served} from ${lookup.path}`);
  const where = searched.join(', ');
  const fix =
    lookup.state === 'refused'
      ? `copy the real file into ${searched[0]} (a symlink leading outside the directory is refused), or choose another file in dhcp.bootFiles.${kind.arch}`
      : `apt install ipxe (Debian ships undionly.kpxe and snponly.efi in /usr/lib/ipxe), put ${kind.file} in ${searched[0]}, or set dhcp.bootFiles.${kind.arch}`;
  const detail =
    lookup.state === 'refused'
      ? `${kind.file} is refused: ${lookup.reason} (searched ${where})`
      : `${kind.file} not found in ${where}`;
  const matters = kind.configured || COMMON_ARCHES.has(kind.arch);
  return matters
    ? fail(name, `${detail}: ${kind.label} machines cannot boot`, fix)
    : warn(name, `${detail}: ${kind.label} machines cannot boot (default entry)`, fix);
}

// ---------------------------------------------------------------- profiles

export type AssetLookup = { ref: string; state: 'present' | 'missing' | 'remote' };

/**
 * Missing files fail for a profile the config routes machines to (defaultProfile,
 * a group); for one only nodes assigned by hand can use (the shipped examples) they warn.
 */
export function profileFilesCheck(
  profile: string,
  assets: readonly AssetLookup[],
  assetsDir: string,
  routedByConfig: boolean,
): CheckResult {
  const name = `profile ${profile}: kernel and initrds`;
  if (assets.length === 0) return ok(name, 'custom iPXE template: its files are not checked');
  const missing = assets.filter((a) => a.state === 'missing').map((a) => a.ref);
  if (missing.length > 0) {
    const detail = `missing under ${assetsDir}: ${missing.join(', ')}`;
    const fix = `put the files under boot.assetsDir (${assetsDir}) or use absolute http(s) URLs in the profile`;
    return routedByConfig
      ? fail(name, detail, fix)
      : warn(name, `${detail} (no group or defaultProfile uses it; nodes assigned to it cannot boot)`, fix);
  }
  const remote = assets.filter((a) => a.state === 'remote').length;
  return ok(
    name,
    `${assets.length - remote} present under ${assetsDir}${remote ? `, ${remote} remote URL(s) not fetched` : ''}`,
  );
}

export interface RenderOutcome {
  /** The iPXE script, or a config name. */
  template: string;
  error: string | null;
}

export function templatesCheck(profile: string, outcomes: readonly RenderOutcome[]): CheckResult {
  const name = `profile ${profile}: templates`;
  const failed = outcomes.filter((o) => o.error !== null);
  if (failed.length > 0) {
    return fail(
      name,
      failed.map((o) => `${o.template}: ${o.error}`).join('; '),
      'fix the template: a misspelt field or a value that is not safe for its language stops it for every node',
    );
  }
  return ok(name, `${outcomes.map((o) => o.template).join(', ')} render for a sample node`);
}

// ---------------------------------------------------------------- other DHCP servers

export interface DhcpOffer {
  /** Option 54, else the source address. */
  server: string;
  /** The address offered; 0.0.0.0 for a proxyDHCP (boot information only) offer. */
  yiaddr: string;
  bootFile: string | null;
}

export type DhcpProbe =
  | { state: 'skipped'; reason: string }
  | { state: 'error'; message: string }
  | { state: 'listened'; seconds: number; offers: DhcpOffer[] };

/** Offers from homeport's own address (a homeport already running here) are not "another" server. */
export function otherDhcpCheck(
  mode: Config['dhcp']['mode'],
  ownServerIp: string | undefined,
  probe: DhcpProbe,
): CheckResult {
  const name = 'other dhcp servers';
  if (probe.state === 'skipped') return ok(name, `not probed: ${probe.reason}`);
  if (probe.state === 'error')
    return warn(
      name,
      `could not probe: ${probe.message}`,
      'run `homeport doctor` as root (it binds port 68 to hear offers)',
    );
  const others = probe.offers.filter((o) => o.server !== ownServerIp);
  const addressServers = unique(others.filter((o) => o.yiaddr !== '0.0.0.0').map((o) => o.server));
  const bootServers = unique(others.filter((o) => o.yiaddr === '0.0.0.0').map((o) => o.server));
  const seen = [
    addressServers.length ? `address offers from ${addressServers.join(', ')}` : '',
    bootServers.length ? `boot-only (proxyDHCP) offers from ${bootServers.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const after = `after one DISCOVER and ${probe.seconds} s`;
  if (mode === 'full' && addressServers.length > 0) {
    return fail(
      name,
      `${seen} ${after}: two servers handing out addresses on one segment`,
      `switch to dhcp.mode: proxy (homeport then adds only boot information to ${addressServers.join(', ')}'s answers), or turn that server's DHCP off on this segment`,
    );
  }
  if (bootServers.length > 0) {
    return warn(
      name,
      `${seen} ${after}: another PXE server answers; a machine may take its boot file instead of homeport's`,
      `turn PXE/proxyDHCP off on ${bootServers.join(', ')}, or leave booting to it`,
    );
  }
  if (mode === 'proxy' && addressServers.length === 0) {
    return warn(
      name,
      `no DHCP server answered ${after}: in proxy mode machines get no address from homeport`,
      'check that the router or DHCP server serves this segment, or use dhcp.mode: full with a pool',
    );
  }
  return ok(name, seen ? `${seen} ${after}: fits dhcp.mode ${mode}` : `none answered ${after}`);
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

// ---------------------------------------------------------------- reservations

export type ReservationFacts =
  { skipped: SkippedReservation[]; conflicts: ReservationConflict[] } | { error: string } | null;

/** Node addresses full-mode DHCP skips, or cannot honour because another MAC holds them (the server logs both once). */
export function reservationsCheck(facts: ReservationFacts): CheckResult {
  const name = 'dhcp reservations';
  if (facts === null) return ok(name, 'not checked: dhcp.mode is not full, or no database yet');
  if ('error' in facts)
    return warn(name, `could not read reservations: ${facts.error}`, 'see the database check above');
  const problems = [...facts.skipped.map((s) => `${s.mac}: ${s.reason}`), ...facts.conflicts.map(describeConflict)];
  if (problems.length === 0) return ok(name, 'every node address can be handed out');
  return warn(
    name,
    problems.join('; '),
    "give the node a free address on the DHCP subnet (or none: it then gets a pool address); for an address leased to another MAC, that lease ends at its expiry or that machine's RELEASE",
  );
}

// ---------------------------------------------------------------- pinned host keys

export type UnpinnedFacts = { total: number; names: string[] } | { error: string } | null;

/**
 * Under ssh.hostKeys pinned, nodes whose install never sent host keys (e.g.
 * installed before an upgrade) are reached only if ssh.knownHostsFile lists
 * them: reboot, readiness and formation fail for them otherwise.
 */
export function unpinnedNodesCheck(facts: UnpinnedFacts): CheckResult {
  const name = 'nodes without pinned host keys';
  if (facts === null) return ok(name, 'not checked: ssh.hostKeys is not pinned, or no database yet');
  if ('error' in facts) return warn(name, `could not read host keys: ${facts.error}`, 'see the database check above');
  if (facts.total === 0) return ok(name, "every node homeport can reach has its install's host keys pinned");
  const shown =
    facts.names.join(', ') + (facts.total > facts.names.length ? `, and ${facts.total - facts.names.length} more` : '');
  return warn(
    name,
    `${facts.total} node(s) with an address but no pinned key, reached only if ssh.knownHostsFile lists them: ${shown}`,
    'reinstall them (the shipped homeport-register sends the keys), list their keys in ssh.knownHostsFile, or set ssh.hostKeys: accept knowingly',
  );
}
