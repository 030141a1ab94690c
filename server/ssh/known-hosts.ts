import crypto from 'node:crypto';

/**
 * The part of OpenSSH's known_hosts format homeport reads: `hosts keytype
 * base64key [comment]` lines, hosts comma-separated, `[host]:port` for a port
 * other than 22, and hashed names (`|1|salt|hmac`). Markers (@cert-authority,
 * @revoked) and patterns are not supported: such lines never match.
 */
export interface KnownHostEntry {
  hosts: string[];
  keyType: string;
  key: string;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@')) continue;
    const [hosts, keyType, key] = line.split(/\s+/);
    if (hosts && keyType && key) entries.push({ hosts: hosts.split(','), keyType, key });
  }
  return entries;
}

/** The name OpenSSH records for a host: plain on port 22, `[host]:port` otherwise. */
export function knownHostName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function hostMatches(pattern: string, name: string): boolean {
  const hashed = /^\|1\|([^|]+)\|([^|]+)$/.exec(pattern);
  if (!hashed) return pattern === name;
  const hmac = crypto.createHmac('sha1', Buffer.from(hashed[1]!, 'base64')).update(name).digest('base64');
  return hmac === hashed[2];
}

/** True when the presented key (raw blob) is listed for this host. */
export function isKnownHostKey(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): boolean {
  const name = knownHostName(host, port);
  const presented = key.toString('base64');
  return entries.some((e) => e.key === presented && e.hosts.some((h) => hostMatches(h, name)));
}
