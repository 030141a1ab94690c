import { z } from 'zod';
import { UNKNOWN_POLICIES } from '../boot/decide';
import { SHIPPED_TEMPLATES_DIR } from '../boot/paths';
import { groupSchema, profileSchema } from '../boot/profiles';
import { nameField } from '../nodes/validation';

/**
 * The whole configuration. Every key has a default, so an empty file (or no
 * file) is a valid config: SQLite under ./data, HTTP on 8080, DHCP and TFTP off.
 */
const port = z.number().int().min(1).max(65535);
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    log: z.object({ level: logLevel.default('info') }).strict().default({}),
    http: z
      .object({
        host: z.string().min(1).default('0.0.0.0'),
        port: port.default(8080),
        /** Base URL machines use to reach this server; derived from the request when unset. */
        publicUrl: z.string().url().optional(),
        bodyLimitKb: z.number().int().min(1).max(10240).default(64),
      })
      .strict()
      .default({}),
    database: z
      .object({
        /** postgres://user:pass@host:port/db; DATABASE_URL in the environment sets it too. */
        url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
        /** Relative paths are under dataDir. */
        sqlitePath: z.string().min(1).default('homeport.sqlite'),
        synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
        busyTimeoutMs: z.number().int().min(0).max(60000).default(5000),
      })
      .strict()
      .default({}),
    auth: z
      .object({
        /** Admin bearer token file; generated (0600) on first start when missing. */
        adminTokenFile: z.string().min(1).default('admin.token'),
        /** Secret the per-node phone-home tokens derive from; generated when missing. */
        secretFile: z.string().min(1).default('secret'),
        /** Accept phone-home calls without a node token (trusted labs only). */
        openPhoneHome: z.boolean().default(false),
      })
      .strict()
      .default({}),
    phases: z
      .object({
        /** Extra install phases, inserted before `deployed`. */
        extra: z.array(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be lower_snake_case, at most 32 characters')).default([]),
      })
      .strict()
      .default({}),
    boot: z
      .object({
        /** Profiles (profiles/NAME.yaml) and templates; relative to the working directory. */
        templatesDir: z.string().min(1).default(SHIPPED_TEMPLATES_DIR),
        /** Profiles defined here instead of (or overriding) files, by name. */
        profiles: z.record(nameField, profileSchema).default({}),
        /** Selectors, first match wins: [{ profile, match: { mac, uuid, arch, cluster, labels } }]. */
        groups: z.array(groupSchema).default([]),
        /** Profile for machines with no profile of their own and no matching group; unset: they wait. */
        defaultProfile: nameField.optional(),
        /** Machines homeport does not know: register them as discovered, boot them anonymously, or send them away. */
        unknown: z.enum(UNKNOWN_POLICIES).default('discover'),
        /** How an installed node (netboot off) boots its disk, per firmware. */
        localBoot: z
          .object({
            pcbios: z.enum(['exit', 'sanboot']).default('exit'),
            efi: z.enum(['exit', 'sanboot']).default('exit'),
            sanbootDrive: z.string().regex(/^0x[0-9a-f]{2}$/i, 'must be a BIOS drive number such as 0x80').default('0x80'),
          })
          .strict()
          .default({}),
        /** Seconds the entry script waits before asking again when there is nothing to boot. */
        retrySeconds: z.number().int().min(1).max(3600).default(10),
        /** Kernels, initrds and other files served at /assets/; relative paths are under dataDir. */
        assetsDir: z.string().min(1).default('assets'),
        /** iPXE binaries served at /ipxe/ (Debian's ipxe package). */
        ipxeDir: z.string().min(1).default('/usr/lib/ipxe'),
      })
      .strict()
      .default({}),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
