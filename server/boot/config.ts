import { z } from 'zod';
import { nameField } from '../nodes/validation.js';
import { UNKNOWN_POLICIES } from './decide.js';
import { SHIPPED_TEMPLATES_DIR } from './paths.js';
import { groupSchema, profileSchema } from './profiles.js';

/** HTTP boot: profiles, groups, unknown machines, local boot, assets. */
export const bootSchema = z
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
  .default({});

export type BootConfig = z.infer<typeof bootSchema>;
