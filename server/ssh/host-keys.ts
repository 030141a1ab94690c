import crypto from 'node:crypto';
import type { HostKey, PinnedHost } from '../store/host-keys.js';

/**
 * SSH host public keys as the install reports them (pure: no I/O). A line of
 * /etc/ssh/ssh_host_*_key.pub is `type base64-blob [comment]`; the blob
 * starts with its own type name, which must agree with the declared one, so
 * a line cannot claim one algorithm and carry another key.
 */
/** ssh.hostKeys: how homeport decides whether a host key is the node's. */
export const HOST_KEY_POLICIES = ['pinned', 'known_hosts', 'accept'] as const;
export type HostKeyPolicy = (typeof HOST_KEY_POLICIES)[number];

/** Defined by the store that keeps them; the blob is base64, as in the .pub line (what ssh2 hands the verifier, encoded). */
export type { HostKey, PinnedHost } from '../store/host-keys.js';

/** Plain host key types OpenSSH generates; certificates are not pinned (they name a CA, not a machine). */
export const HOST_KEY_TYPES = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'ssh-rsa',
  'ssh-dss',
] as const;

/** At most this many keys per node (OpenSSH makes 3 or 4) and this long a line (RSA 16384 is ~2.8 KB). */
export const MAX_HOST_KEYS = 8;
export const MAX_HOST_KEY_LINE = 4096;

const LINE = /^([a-z0-9@.-]{1,64}) ([A-Za-z0-9+/]+={0,2})(?: [\x20-\x7e]{0,256})?$/;

/** The key of a .pub line, or why it is not one. The comment (user@host) is dropped. */
export function parseHostKeyLine(line: string): HostKey | { error: string } {
  if (line.length > MAX_HOST_KEY_LINE) return { error: `is longer than ${MAX_HOST_KEY_LINE} characters` };
  const match = LINE.exec(line.trim());
  if (!match) return { error: 'must be an OpenSSH public key line: TYPE BASE64 [COMMENT]' };
  const [, type, key] = match as unknown as [string, string, string];
  if (!(HOST_KEY_TYPES as readonly string[]).includes(type))
    return { error: `key type ${type} is not one of ${HOST_KEY_TYPES.join(', ')}` };
  const blob = Buffer.from(key, 'base64');
  if (blob.toString('base64') !== key) return { error: 'is not valid base64' };
  if (blobType(blob) !== type) return { error: `the key blob is not a ${type} key` };
  return { type, key };
}

/** The algorithm name a key blob starts with (an SSH `string`), or null. */
export function blobType(blob: Buffer): string | null {
  if (blob.length < 4) return null;
  const length = blob.readUInt32BE(0);
  if (length < 1 || length > 64 || blob.length < 4 + length) return null;
  return blob.subarray(4, 4 + length).toString('latin1');
}

/** OpenSSH's fingerprint: `SHA256:` and the unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Buffer): string {
  return `SHA256:${crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

export function keyFingerprint(key: HostKey): string {
  return fingerprint(Buffer.from(key.key, 'base64'));
}

export type HostKeyVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Pinned mode's rule: the presented key must be one the node's install
 * reported. `fallback` (known_hosts) is asked only when the node has no
 * pinned key at all: an admin's own list for nodes installed without the
 * shipped client.
 */
export function pinnedVerdict(
  pinned: PinnedHost,
  host: string,
  presented: Buffer,
  fallback: () => boolean,
): HostKeyVerdict {
  const shown = fingerprint(presented);
  if (pinned.kind === 'none') {
    return fallback()
      ? { ok: true }
      : {
          ok: false,
          reason: `no node has the address ${host}, and ${shown} is not in known_hosts: homeport connects only to its nodes`,
        };
  }
  if (pinned.kind === 'ambiguous')
    return {
      ok: false,
      reason: `the address ${host} is held by several nodes (${pinned.nodes.join(', ')}): cannot tell whose host key to expect (presented ${shown})`,
    };
  if (pinned.keys.length === 0) {
    return fallback()
      ? { ok: true }
      : {
          ok: false,
          reason: `${pinned.node} has no pinned host key (its register call sent none) and ${shown} is not in known_hosts`,
        };
  }
  const wanted = presented.toString('base64');
  if (pinned.keys.some((k) => k.key === wanted)) return { ok: true };
  return {
    ok: false,
    reason: `host key ${shown} presented at ${host} is not ${pinned.node}'s pinned key ${pinned.keys.map(keyFingerprint).join(' or ')}: refused (possible impostor at this address; if the node really changed its keys, reinstall it or clear its keys)`,
  };
}
