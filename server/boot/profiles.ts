import { z } from 'zod';
import { macField, nameField } from '../nodes/validation.js';

/**
 * Profiles (what a machine boots) and groups (which machines get which
 * profile), as in matchbox: a node's own profile wins, then the first group
 * whose selectors all match, then the default. Pure.
 */

/** A config name is a URL segment: `/config/:mac/:name`. */
const configName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/i, 'config names are 1-63 letters, digits, . _ -');
/** A template path inside the templates directory: no absolute paths, no `..`. */
const templatePath = z
  .string()
  .min(1)
  .max(255)
  .refine(
    (p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\'),
    'must be a relative path inside the templates directory (no .., no leading /)',
  );
const varValue = z.union([z.string().max(4096), z.number(), z.boolean()]);

export const profileSchema = z
  .object({
    description: z.string().max(200).default(''),
    /** Kernel: an absolute http(s) URL, or a path under /assets/. */
    kernel: z.string().min(1).max(1024).optional(),
    /** Initrds, in order; each is passed to the kernel as `initrd=NAME` too (EFI needs it). */
    initrds: z.array(z.string().min(1).max(1024)).max(16).default([]),
    /** Kernel arguments: a template rendered for iPXE (values must be single iPXE tokens). */
    args: z.string().max(4096).default(''),
    /** A custom iPXE script template instead of the kernel/initrd/args builder. */
    ipxe: templatePath.optional(),
    /** Install configs: name -> template file; served at /config/:mac/:name. */
    configs: z.record(configName, templatePath).default({}),
    /**
     * Turn the node's netboot off once this config is served, for installers
     * that reboot before anything can phone home (Proxmox fetches its answer
     * file, installs, reboots, and only then runs its first-boot hook).
     */
    netbootOffAfter: configName.optional(),
    /** Free values for the templates (`profile.vars.x`): timezone, disks, keys... */
    vars: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'var names are identifiers'), varValue)
      .default({}),
  })
  .strict()
  .refine((p) => p.kernel !== undefined || p.ipxe !== undefined, {
    message: 'needs a kernel or an ipxe template',
    path: ['kernel'],
  })
  .refine((p) => p.netbootOffAfter === undefined || p.netbootOffAfter in p.configs, {
    message: "must name one of the profile's configs",
    path: ['netbootOffAfter'],
  });
export type Profile = z.infer<typeof profileSchema>;

/** A selector value: one value or a list of them (a single value is read as a list, so errors name the item). */
const oneOrMany = <T extends z.ZodTypeAny>(item: T) =>
  z.preprocess((v) => (Array.isArray(v) ? v : [v]), z.array(item).min(1));

export const groupSchema = z
  .object({
    profile: nameField,
    /** Every given selector must match; an empty match is a catch-all. */
    match: z
      .object({
        mac: oneOrMany(macField).optional(),
        uuid: oneOrMany(
          z
            .string()
            .uuid('must be a UUID')
            .transform((u) => u.toLowerCase()),
        ).optional(),
        arch: oneOrMany(
          z.string().regex(/^[a-z0-9_]{1,32}$/, 'must be an iPXE buildarch such as x86_64, i386, arm64'),
        ).optional(),
        cluster: oneOrMany(nameField).optional(),
        labels: z.record(z.string().max(63), z.string().max(253)).optional(),
      })
      .strict()
      .default({}),
  })
  .strict();
export type Group = z.infer<typeof groupSchema>;

/** What selectors look at: a node row, or for an unknown machine what iPXE told us. */
export interface MachineFacts {
  mac: string;
  uuid: string | null;
  arch: string | null;
  cluster: string | null;
  labels: Record<string, string>;
  /** The node's own profile assignment. */
  profile: string | null;
}

export type ProfileChoice = { name: string; via: 'node' | 'group' | 'default'; group?: number } | null;

export function matchesGroup(group: Group, machine: MachineFacts): boolean {
  const { mac, uuid, arch, cluster, labels } = group.match;
  if (mac && !mac.includes(machine.mac)) return false;
  if (uuid && !(machine.uuid && uuid.includes(machine.uuid.toLowerCase()))) return false;
  if (arch && !(machine.arch && arch.includes(machine.arch))) return false;
  if (cluster && !(machine.cluster && cluster.includes(machine.cluster))) return false;
  if (labels && !Object.entries(labels).every(([k, v]) => machine.labels[k] === v)) return false;
  return true;
}

/** The node's profile, else the first matching group's, else the default. */
export function chooseProfile(
  machine: MachineFacts,
  groups: readonly Group[],
  defaultProfile: string | undefined,
): ProfileChoice {
  if (machine.profile) return { name: machine.profile, via: 'node' };
  const index = groups.findIndex((g) => matchesGroup(g, machine));
  if (index >= 0) return { name: groups[index]!.profile, via: 'group', group: index };
  return defaultProfile ? { name: defaultProfile, via: 'default' } : null;
}
