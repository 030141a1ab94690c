import { z } from 'zod';
import { ms, port } from '../kernel/schema.js';
import { HOST_KEY_POLICIES } from './host-keys.js';

/** SSH from homeport to nodes: reboot, readiness checks, cluster drivers. */
export const sshSchema = z
  .object({
    user: z
      .string()
      .regex(/^[a-z_][a-z0-9_.-]{0,31}$/i, 'must be a user name')
      .default('root'),
    port: port.default(22),
    /** Private key (OpenSSH format); relative paths are under dataDir. */
    keyFile: z.string().min(1).default('ssh/id_ed25519'),
    /** File holding the key's passphrase, for an encrypted key; relative paths are under dataDir. */
    keyPassphraseFile: z.string().min(1).optional(),
    hostKeys: z
      .enum(HOST_KEY_POLICIES)
      .default('pinned')
      .describe(
        "pinned: only the host keys the node's install sent with its register call (trust on first use, per install round), or knownHostsFile for a node whose install sent none; known_hosts: only knownHostsFile (OpenSSH format: hashed names, wildcards, @revoked, and @cert-authority, whose host certificates are fetched with ssh-keyscan -c because ssh2 cannot negotiate them, and must certify the key the session presented); accept: any key (warned about at start and by homeport doctor).",
      ),
    knownHostsFile: z
      .string()
      .min(1)
      .default('ssh/known_hosts')
      .describe(
        'OpenSSH known_hosts file for known_hosts mode, and for nodes without pinned keys in pinned mode; relative paths are under dataDir.',
      ),
    connectTimeoutMs: ms(100, 120_000).default(10_000),
    /** Default limit for one remote command; cluster steps have their own. */
    commandTimeoutMs: ms(100, 3_600_000).default(60_000),
    /** Attempts for steps that are safe to repeat (connect failures, read-only checks). */
    retries: z.number().int().min(1).max(10).default(4),
    retryDelayMs: ms(10, 60_000).default(1000),
  })
  .strict()
  .default({});

export type SshSettings = z.infer<typeof sshSchema>;
