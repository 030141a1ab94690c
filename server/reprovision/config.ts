import cron from 'node-cron';
import { z } from 'zod';
import { nameField } from '../nodes/validation.js';
import { HOST_KEY_POLICIES } from '../ssh/host-keys.js';

/**
 * Config sections of the reprovision workflow (seed 000): SSH to nodes, how
 * a reprovision restarts a machine, the watcher, and the clusters it forms.
 * Imported by server/config/schema.ts; every key has a default.
 */
const port = z.number().int().min(1).max(65535);
const ms = (min: number, max: number) => z.number().int().min(min).max(max);

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

const redfishSchema = z
  .object({
    scheme: z.enum(['https', 'http']).default('https'),
    /** The node label holding its BMC address (host or host:port). */
    bmcLabel: nameField.default('bmc'),
    /** Dell: /redfish/v1/Systems/System.Embedded.1 */
    systemPath: z
      .string()
      .regex(/^\/redfish\/v1\/Systems\/[A-Za-z0-9._-]+$/, 'must be /redfish/v1/Systems/<id>')
      .default('/redfish/v1/Systems/1'),
    username: z.string().min(1).max(64).default('root'),
    /** File holding the BMC password; relative paths are under dataDir. */
    passwordFile: z.string().min(1).default('redfish.password'),
    resetType: z.enum(['ForceRestart', 'GracefulRestart', 'PowerCycle', 'On']).default('ForceRestart'),
    /** BMCs ship self-signed certificates; set true to skip verification. */
    insecureTls: z.boolean().default(false),
    timeoutMs: ms(100, 120_000).default(10_000),
  })
  .strict()
  .default({});

export const reprovisionSchema = z
  .object({
    /** How a reprovision restarts a machine: ssh `reboot`, Redfish reset with PXE once, or none (the admin powers it). */
    method: z.enum(['ssh', 'redfish', 'none']).default('ssh'),
    rebootCommand: z.string().min(1).max(256).default('reboot'),
    redfish: redfishSchema,
  })
  .strict()
  .default({});

export const watcherSchema = z
  .object({
    /** false: no schedule (tick() still works); for tests and read-only replicas. */
    enabled: z.boolean().default(true),
    /** node-cron expression with seconds. */
    schedule: z
      .string()
      .refine((s) => cron.validate(s), 'must be a cron expression, e.g. */30 * * * * * (every 30 s)')
      .default('*/30 * * * * *'),
    /** Minutes before an in_progress node is marked timeout (per node: the API's timeout_min). */
    reprovisionTimeoutMin: z.number().int().min(1).max(1440).default(45),
    /** Readiness: SSH must answer within this. */
    sshTimeoutMs: ms(100, 120_000).default(10_000),
    /** Readiness: a service port (e.g. Proxmox 8006) must accept within this. */
    portTimeoutMs: ms(100, 120_000).default(5000),
    /** Leader lease among instances on one database; must outlast a tick interval. */
    leaseMs: ms(1000, 3_600_000).default(90_000),
    /** Lease on a running formation job, renewed while it runs; a dead runner's job is reclaimed after it. */
    jobLeaseMs: ms(1000, 3_600_000).default(120_000),
    /** Runs of a formation job (failures, and runners that died) before the cluster is marked error. */
    jobAttempts: z.number().int().min(1).max(20).default(3),
    /** Delay before a failed job's automatic retry; doubles per attempt, up to 16 times this. */
    jobRetryDelayMs: ms(10, 3_600_000).default(30_000),
    /** How often a waiting job (a rolling reprovision's batch) re-checks; it also runs on every watcher tick. */
    jobPollMs: ms(10, 3_600_000).default(15_000),
  })
  .strict()
  .default({});

const clusterSchema = z
  .object({
    driver: z.enum(['proxmox', 'k3s', 'script']),
    /** driver script: an executable run with CLUSTER and NODES (JSON) in its environment. */
    script: z.string().min(1).optional(),
    /** Do not form before this many nodes are in the cluster. */
    expectedNodes: z.number().int().min(1).max(1000).optional(),
    /** TCP ports that must accept before a node counts as ready; default per driver (proxmox 8006). */
    readinessPorts: z.array(port).max(16).optional(),
    /**
     * Require SSH to answer before a node counts as ready. Off for installers
     * whose nodes run no sshd: their `deployed` report is the readiness signal.
     */
    readinessSsh: z.boolean().default(true),
    /** Limit for one mutating step (create, join, script run). */
    stepTimeoutMs: ms(1000, 3_600_000).default(600_000),
    /** How long verification waits for every member to show up. */
    verifyTimeoutMs: ms(1000, 3_600_000).default(300_000),
    k3s: z
      .object({
        /** Runs the k3s installer with arguments appended, e.g. `server --cluster-init`. */
        installCommand: z.string().min(1).default('curl -sfL https://get.k3s.io | sh -s -'),
        tokenFile: z.string().min(1).default('/var/lib/rancher/k3s/server/node-token'),
        joinAs: z.enum(['server', 'agent']).default('server'),
      })
      .strict()
      .default({}),
  })
  .strict()
  .superRefine((cluster, ctx) => {
    if (cluster.driver === 'script' && !cluster.script)
      ctx.addIssue({ code: z.ZodIssueCode.custom, path: ['script'], message: 'is required when driver is script' });
  });

/** Clusters by name (the nodes' `cluster` field). */
export const clustersSchema = z.record(nameField, clusterSchema).default({});

export type SshSettings = z.infer<typeof sshSchema>;
export type ReprovisionSettings = z.infer<typeof reprovisionSchema>;
export type RedfishSettings = ReprovisionSettings['redfish'];
export type WatcherSettings = z.infer<typeof watcherSchema>;
export type ClusterSettings = z.infer<typeof clusterSchema>;
export type ClustersSettings = z.infer<typeof clustersSchema>;
