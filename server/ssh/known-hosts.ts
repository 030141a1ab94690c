import crypto from 'node:crypto';
import { certifiedByCa } from './certs.js';
import { fingerprint, type HostKeyVerdict } from './host-keys.js';

/**
 * The part of OpenSSH's known_hosts format homeport reads: `hosts keytype
 * base64key [comment]` lines, hosts comma-separated, `[host]:port` for a port
 * other than 22, hashed names (`|1|salt|hmac`), `*` and `?` wildcards and
 * `!` negation, and the markers `@revoked` and `@cert-authority`.
 *
 * @cert-authority: OpenSSH trusts a host whose certificate a listed CA
 * signed. ssh2 (1.17) offers no `*-cert-v01@openssh.com` host key algorithm,
 * so the session itself never carries a certificate: the caller fetches the
 * host's certificates beside it (ssh-keyscan -c, ./keyscan.ts) and a
 * certificate counts only if it certifies the key the session presented
 * (./certs.ts). No certificate, or none that checks out: refused, with why.
 */
export interface KnownHostEntry {
  marker: 'cert-authority' | 'revoked' | null;
  hosts: string[];
  keyType: string;
  key: string;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0] === '@cert-authority' ? 'cert-authority' : fields[0] === '@revoked' ? 'revoked' : null;
    if (fields[0]!.startsWith('@') && marker === null) continue; // an unknown marker: never match
    const [hosts, keyType, key] = marker ? fields.slice(1) : fields;
    if (hosts && keyType && key) entries.push({ marker, hosts: hosts.split(','), keyType, key });
  }
  return entries;
}

/** The name OpenSSH records for a host: plain on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatches(pattern: string, name: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'i',
  );
  return regex.test(name);
}

function patternMatches(pattern: string, name: string): boolean {
  const hashed = /^\|1\|([^|]+)\|([^|]+)$/.exec(pattern);
  if (hashed)
    return crypto.createHmac('sha1', Buffer.from(hashed[1]!, 'base64')).update(name).digest('base64') === hashed[2];
  return globMatches(pattern, name);
}

/** OpenSSH's rule for a host list: some pattern matches and no negated one does. */
function hostListMatches(patterns: readonly string[], name: string): boolean {
  if (patterns.some((p) => p.startsWith('!') && patternMatches(p.slice(1), name))) return false;
  return patterns.some((p) => !p.startsWith('!') && patternMatches(p, name));
}

/** The entries of one kind that apply to a host. */
function forHost(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  marker: KnownHostEntry['marker'],
): KnownHostEntry[] {
  const name = knownHostName(host, port);
  return entries.filter((e) => e.marker === marker && hostListMatches(e.hosts, name));
}

/** True when a @cert-authority line covers the host: its certificates are worth fetching. */
export function hasCertAuthority(entries: readonly KnownHostEntry[], host: string, port: number): boolean {
  return forHost(entries, host, port, 'cert-authority').length > 0;
}

/** The host's certificates (from ssh-keyscan -c) and the time, for @cert-authority hosts. */
export interface CertificateEvidence {
  certificates: readonly Buffer[];
  now: number;
}

/** What known_hosts says of the key a host presented (raw blob), with the reason when it is refused. */
export function knownHostsVerdict(
  entries: readonly KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
  evidence: CertificateEvidence = { certificates: [], now: Date.now() },
): HostKeyVerdict {
  const presented = key.toString('base64');
  const shown = fingerprint(key);
  const revoked = new Set(entries.filter((e) => e.marker === 'revoked').map((e) => e.key));
  // @revoked wins over every other line, as in OpenSSH.
  if (revoked.has(presented)) return { ok: false, reason: `host key ${shown} is marked @revoked in known_hosts` };
  if (forHost(entries, host, port, null).some((e) => e.key === presented)) return { ok: true };
  const authorities = forHost(entries, host, port, 'cert-authority').filter((e) => !revoked.has(e.key));
  if (authorities.length > 0) {
    const caKeys = authorities.map((e) => Buffer.from(e.key, 'base64'));
    const verdict = certifiedByCa(evidence.certificates, { caKeys, name: host, sessionKey: key, now: evidence.now });
    if (verdict.ok) return { ok: true };
    return {
      ok: false,
      reason: `host key ${shown} of ${knownHostName(host, port)} is not listed, and no certificate from a @cert-authority vouches for it: ${verdict.reason}`,
    };
  }
  return { ok: false, reason: `host key ${shown} is not listed for ${knownHostName(host, port)} in known_hosts` };
}

/** True when the presented key (raw blob) is listed for this host. */
export function isKnownHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): boolean {
  return knownHostsVerdict(entries, host, port, key).ok;
}
