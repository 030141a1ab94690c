import { z } from 'zod';
import { BIND_SOURCES } from '../auth/rounds.js';
import { UNKNOWN_POLICIES } from '../boot/decide.js';
import { SHIPPED_TEMPLATES_DIR } from '../boot/paths.js';
import { groupSchema, profileSchema } from '../boot/profiles.js';
import { nameField } from '../nodes/validation.js';
import { WEBHOOK_EVENTS, type WebhookEventName } from '../webhooks/events.js';
import { clustersSchema, reprovisionSchema, sshSchema, watcherSchema } from '../reprovision/config.js';

/**
 * The whole configuration. Every key has a default, so an empty file (or no
 * file) is a valid config: SQLite under ./data, HTTP on 8080, DHCP and TFTP off.
 */
const port = z.number().int().min(1).max(65535);
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

const ipv4 = z
  .string()
  .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'must be an IPv4 address');

/** DHCP: off, proxyDHCP beside an existing DHCP server, or full DHCP with a pool. */
const dhcpSchema = z
  .object({
    mode: z.enum(['off', 'proxy', 'full']).default('off'),
    interface: z.string().min(1).max(15).optional().describe('The interface machines boot on; it must own serverIp.'),
    serverIp: ipv4
      .optional()
      .describe("homeport's address on that interface: DHCP server id, TFTP server, HTTP host for iPXE."),
    port: port.default(67),
    proxyPort: port.default(4011),
    recordDiscover: z.boolean().default(true).describe('Record a `dhcp_discover` history event for known nodes.'),
    discoverWindowSeconds: z
      .number()
      .int()
      .min(1)
      .max(86400)
      .default(300)
      .describe(
        "A known node's repeated DISCOVERs make one `dhcp_discover` row per boot attempt: another is recorded once something else happened to the node, or after this many seconds.",
      ),
    authoritative: z
      .boolean()
      .default(false)
      .describe(
        'Full mode: NAK an INIT-REBOOT for an address of a client homeport has no record of (RFC 2131 4.3.2). Off, homeport stays silent, as Kea and dnsmasq do by default, so another server on the segment can answer; a wrong-subnet address is NAKed either way.',
      ),
    offerHoldSeconds: z
      .number()
      .int()
      .min(1)
      .max(300)
      .default(5)
      .describe(
        'Full mode: how long an OFFER holds its address against other offers. When no address is free, the oldest offer gives way, and a REQUEST always beats an offer, so a DISCOVER flood cannot lock clients out.',
      ),
    bootFiles: z
      .record(z.string().regex(/^\d{1,5}$/, 'keys are architecture numbers'), z.string().min(1).max(128))
      .default({})
      .describe('Boot file per client architecture (option 93), e.g. {"7": "ipxe.efi"}.'),
    pool: z
      .object({
        start: ipv4,
        end: ipv4,
        subnetMask: ipv4,
        router: ipv4.optional(),
        dns: z.array(ipv4).default([]),
        domain: z
          .string()
          .regex(/^[a-z0-9.-]{1,253}$/i, 'must be a DNS domain')
          .optional(),
        leaseSeconds: z
          .number()
          .int()
          .min(60)
          .max(7 * 24 * 3600)
          .default(3600),
      })
      .strict()
      .optional(),
  })
  .strict()
  .superRefine((dhcp, ctx) => {
    if (dhcp.mode === 'off') return;
    if (!dhcp.interface)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['interface'],
        message: `is required when dhcp.mode is ${dhcp.mode}`,
      });
    if (!dhcp.serverIp)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['serverIp'],
        message: `is required when dhcp.mode is ${dhcp.mode}`,
      });
    if (dhcp.mode === 'full' && !dhcp.pool)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        path: ['pool'],
        message: 'is required when dhcp.mode is full (start, end, subnetMask)',
      });
  })
  .default({});

/** TFTP: read-only, for firmware that is not yet iPXE. */
const tftpSchema = z
  .object({
    enabled: z.boolean().default(false),
    host: z.string().min(1).default('0.0.0.0'),
    port: port.default(69),
    root: z
      .string()
      .min(1)
      .default('tftp')
      .describe("Files served before Debian's iPXE directory; relative paths are under dataDir."),
    maxSessions: z.number().int().min(1).max(10000).default(256),
    maxBlksize: z.number().int().min(512).max(65464).default(65464),
    maxWindowsize: z.number().int().min(1).max(64).default(64),
    timeoutMs: z.number().int().min(100).max(60000).default(1000),
    retries: z.number().int().min(1).max(20).default(5),
  })
  .strict()
  .default({});

/** The status page (/monitoring) and its event stream (/api/events). */
const monitoringSchema = z
  .object({
    requireAdmin: z
      .boolean()
      .default(false)
      .describe(
        'Require the admin token (login form or bearer) to read the page, the events and GET /api/status/*; open (read-only) otherwise. BMC labels (reprovision.redfish.bmcLabel, bmc*, ipmi*, idrac*, ilo*, redfish*, oob*) are shown only by the admin API, in either mode.',
      ),
    sessionHours: z
      .number()
      .int()
      .min(1)
      .max(24 * 30)
      .default(12)
      .describe('How long a login lasts.'),
    maxEventClients: z
      .number()
      .int()
      .min(1)
      .max(10000)
      .default(100)
      .describe('Concurrent event-stream clients; more get 503.'),
    heartbeatMs: z
      .number()
      .int()
      .min(1000)
      .max(300000)
      .default(15000)
      .describe('Heartbeat comment interval on event streams (keeps proxies from closing idle streams).'),
    retryMs: z
      .number()
      .int()
      .min(500)
      .max(60000)
      .default(3000)
      .describe('Reconnect delay the server suggests to EventSource clients (`retry:`).'),
  })
  .strict()
  .default({});

/** Where events go (phase changes, timeouts, cluster formed/failed). */
const webhooksSchema = z
  .array(
    z
      .object({
        url: z
          .string()
          .url()
          .regex(/^https?:\/\//, 'must be an http(s) URL'),
        secret: z
          .string()
          .min(16, 'must be at least 16 characters')
          .optional()
          .describe('HMAC-SHA256 key for the X-Homeport-Signature header.'),
        events: z
          .array(z.enum(WEBHOOK_EVENTS as [WebhookEventName, ...WebhookEventName[]]))
          .min(1)
          .optional(),
      })
      .strict(),
  )
  .max(16)
  .default([]);

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    log: z
      .object({ level: logLevel.default('info') })
      .strict()
      .default({}),
    http: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(8080),
        publicUrl: z
          .string()
          .url()
          .optional()
          .describe('Base URL machines use to reach this server; derived from the request when unset.'),
        bodyLimitKb: z.number().int().min(1).max(10240).default(64),
        headersTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(600_000)
          .default(10_000)
          .describe('A client must send all its headers within this time (slowloris); checked every second.'),
        requestTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(3_600_000)
          .default(60_000)
          .describe('...and the whole request, body included, within this time.'),
      })
      .strict()
      .default({}),
    database: z
      .object({
        url: z
          .string()
          .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
          .optional()
          .describe('postgres://user:pass@host:port/db; DATABASE_URL in the environment sets it too.'),
        sqlitePath: z.string().min(1).default('homeport.sqlite').describe('Relative paths are under dataDir.'),
        synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
        busyTimeoutMs: z.number().int().min(0).max(60000).default(5000),
        groupCommitMs: z
          .number()
          .int()
          .min(0)
          .max(100)
          .default(5)
          .describe(
            'How long the first phase report (or node event) of a batch waits for others to share its commit; 0: only those that arrived in the same event-loop turn. Helps installers that connect once per call.',
          ),
      })
      .strict()
      .default({}),
    auth: z
      .object({
        adminTokenFile: z
          .string()
          .min(1)
          .default('admin.token')
          .describe('Admin bearer token file; generated (0600) on first start when missing.'),
        secretFile: z
          .string()
          .min(1)
          .default('secret')
          .describe('Secret the per-node phone-home tokens derive from; generated when missing.'),
        openPhoneHome: z
          .boolean()
          .default(false)
          .describe(
            'Accept phone-home calls without a node token (trusted labs only); install rounds still gate configs and close as usual.',
          ),
        bindSource: z
          .enum(BIND_SOURCES)
          .default('first-use')
          .describe(
            "Which address a node's install round is bound to: first-use (the round's first secret-bearing request: per-node script, config or phone-home), lease (the address homeport's full-mode DHCP leased to the MAC), off (any address; for NAT'd networks).",
          ),
        roundGraceMinutes: z
          .number()
          .int()
          .min(0)
          .max(1440)
          .default(30)
          .describe(
            'How long a round stays open after the node reports deployed or failed, for installers that report after their last boot.',
          ),
      })
      .strict()
      .default({}),
    phases: z
      .object({
        extra: z
          .array(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be lower_snake_case, at most 32 characters'))
          .default([])
          .describe('Extra install phases, inserted before `deployed`.'),
      })
      .strict()
      .default({}),
    boot: z
      .object({
        templatesDir: z
          .string()
          .min(1)
          .default(SHIPPED_TEMPLATES_DIR)
          .describe('Profiles (profiles/NAME.yaml) and templates; relative to the working directory.'),
        profiles: z
          .record(nameField, profileSchema)
          .default({})
          .describe('Profiles defined here instead of (or overriding) files, by name.'),
        groups: z
          .array(groupSchema)
          .default([])
          .describe('Selectors, first match wins: [{ profile, match: { mac, uuid, arch, cluster, labels } }].'),
        defaultProfile: nameField
          .optional()
          .describe('Profile for machines with no profile of their own and no matching group; unset: they wait.'),
        unknown: z
          .enum(UNKNOWN_POLICIES)
          .default('discover')
          .describe(
            'Machines homeport does not know: register them as discovered, boot them anonymously, or send them away.',
          ),
        discoverLimit: z
          .number()
          .int()
          .min(0)
          .max(1_000_000)
          .default(1000)
          .describe(
            'Open discoveries at most (discovered nodes no admin gave a profile or cluster); past it an unknown machine gets a script that says so and nothing is written. Anyone on the boot network can present new MACs.',
          ),
        discoverTtlHours: z
          .number()
          .int()
          .min(1)
          .max(24 * 365)
          .default(24)
          .describe(
            'A discovered node that never phoned home and that no admin gave a profile or cluster is deleted after this many hours (swept at start and every 10 minutes).',
          ),
        /** How an installed node (netboot off) boots its disk, per firmware. */
        localBoot: z
          .object({
            pcbios: z.enum(['exit', 'sanboot']).default('exit'),
            efi: z.enum(['exit', 'sanboot']).default('exit'),
            sanbootDrive: z
              .string()
              .regex(/^0x[0-9a-f]{2}$/i, 'must be a BIOS drive number such as 0x80')
              .default('0x80'),
          })
          .strict()
          .default({}),
        retrySeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(10)
          .describe('Seconds the entry script waits before asking again when there is nothing to boot.'),
        assetsDir: z
          .string()
          .min(1)
          .default('assets')
          .describe('Kernels, initrds and other files served at /assets/; relative paths are under dataDir.'),
        assetCacheMb: z
          .number()
          .int()
          .min(1)
          .max(4096)
          .default(64)
          .describe(
            'Memory (MiB) for chunks of the files being downloaded over HTTP, shared by every download: machines booting together read each chunk of a kernel or initrd once.',
          ),
        assetStallSeconds: z
          .number()
          .int()
          .min(1)
          .max(3600)
          .default(60)
          .describe(
            'A download whose client takes no data for this long (a stalled or very slow client) is disconnected, so it cannot hold a file descriptor and memory forever.',
          ),
        ipxeDir: z
          .string()
          .min(1)
          .default('/usr/lib/ipxe')
          .describe("iPXE binaries served at /ipxe/ (Debian's ipxe package)."),
      })
      .strict()
      .default({}),
    dhcp: dhcpSchema,
    tftp: tftpSchema,
    ssh: sshSchema,
    reprovision: reprovisionSchema,
    watcher: watcherSchema,
    clusters: clustersSchema,
    monitoring: monitoringSchema,
    webhooks: webhooksSchema,
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
