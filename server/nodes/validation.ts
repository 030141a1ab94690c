import net from 'node:net';
import { z } from 'zod';
import { ValidationError } from '../kernel/errors.js';
import { intFromText, queryText } from '../http/validation.js';
import { MAX_HOST_KEYS, parseHostKeyLine } from '../ssh/host-keys.js';
import { normalizeMac } from './mac.js';
import { PHASE_STATUSES } from './phases.js';

/**
 * Request bodies of the phone-home and admin APIs. Everything an installer
 * sends passes through here first; a value that could break out of a
 * template (newline, quote, `${`, `;`) cannot pass a hostname, label or
 * cluster check, so rendering stays safe even before escaping.
 */
export const HOSTNAME_RULE =
  'must be an RFC 1123 hostname: letters, digits and hyphens, dot-separated labels of 1-63 characters, at most 253 in all';
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const NAME = /^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$/i;
const NAME_RULE = 'must be 1-63 letters, digits, - or _, starting and ending with a letter or digit';

export const macField = z
  .string({ invalid_type_error: 'must be a string' })
  .max(32, 'is too long for a MAC address')
  .transform((value, ctx) => {
    const mac = normalizeMac(value);
    if (!mac) {
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: 'must be a MAC address (aa:bb:cc:dd:ee:ff, aa-bb-..., aabb.ccdd.eeff or aabbccddeeff)',
      });
      return z.NEVER;
    }
    return mac;
  });

export const hostnameField = z
  .string({ invalid_type_error: 'must be a string' })
  .regex(HOSTNAME, HOSTNAME_RULE)
  .transform((h) => h.toLowerCase());
export const nameField = z.string({ invalid_type_error: 'must be a string' }).regex(NAME, NAME_RULE);
/** A node's type (seed 000: proxmox, k3s...): a name that fits its column, varchar(32). */
const typeField = nameField.max(32, 'must be at most 32 characters');
export const ipField = z
  .string({ invalid_type_error: 'must be a string' })
  .max(45)
  .refine((ip) => net.isIP(ip) !== 0, 'must be an IPv4 or IPv6 address');
const labelsField = z.record(
  z.string().regex(NAME, `label names ${NAME_RULE}`),
  z
    .string()
    .max(253)
    .regex(/^[A-Za-z0-9._:/-]*$/, 'label values may hold letters, digits and . _ : / -'),
);
const messageField = z.string({ invalid_type_error: 'must be a string' }).max(2000, 'must be at most 2000 characters');
const tokenField = z.string().max(128).optional();

/** One line of /etc/ssh/ssh_host_*_key.pub, kept as its type and blob (the comment is dropped). */
const hostKeyLine = z.string({ invalid_type_error: 'must be a string' }).transform((line, ctx) => {
  const parsed = parseHostKeyLine(line);
  if ('error' in parsed) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: parsed.error });
    return z.NEVER;
  }
  return parsed;
});
export const hostKeysField = z
  .array(hostKeyLine, { invalid_type_error: 'must be an array of OpenSSH public key lines' })
  .min(1)
  .max(MAX_HOST_KEYS, `at most ${MAX_HOST_KEYS} keys`);

export const registerBody = z
  .object({
    mac: macField,
    hostname: hostnameField.optional(),
    ip: ipField.optional(),
    type: typeField.optional(),
    cluster: nameField.optional(),
    status: z.enum(['registered', 'post-install-complete']).optional(),
    uuid: z.string().uuid('must be a UUID').optional(),
    host_keys: hostKeysField
      .optional()
      .describe("the machine's SSH host public keys (/etc/ssh/ssh_host_*_key.pub lines), pinned for the install round"),
    token: tokenField,
  })
  .strict();
export type RegisterBody = z.infer<typeof registerBody>;

export const phaseBody = z
  .object({
    mac: macField.optional(),
    node_id: intFromText(1, 2 ** 31 - 1).optional(),
    ip: ipField.optional(),
    phase: z.string({ required_error: 'is required', invalid_type_error: 'must be a string' }).max(32),
    status: z.enum(PHASE_STATUSES).default('in_progress'),
    message: messageField.optional(),
    progress: intFromText(0, 100).optional(),
    token: tokenField,
  })
  .strict()
  .refine((b) => b.mac !== undefined || b.node_id !== undefined || b.ip !== undefined, {
    message: 'one of mac, node_id or ip is required',
    path: ['mac'],
  });
export type PhaseBody = z.infer<typeof phaseBody>;

export const nodeCreateBody = z
  .object({
    mac: macField,
    hostname: hostnameField.optional(),
    ip: ipField.optional(),
    type: typeField.optional(),
    profile: nameField.optional(),
    cluster: nameField.optional(),
    labels: labelsField.optional(),
    netboot_enabled: z.boolean().optional(),
  })
  .strict();
export type NodeCreateBody = z.infer<typeof nodeCreateBody>;

export const nodeUpdateBody = z
  .object({
    hostname: hostnameField.nullable().optional(),
    ip: ipField.nullable().optional(),
    type: typeField.nullable().optional(),
    profile: nameField.nullable().optional(),
    cluster: nameField.nullable().optional(),
    labels: labelsField.optional(),
    netboot_enabled: z.boolean().optional(),
  })
  .strict();
export type NodeUpdateBody = z.infer<typeof nodeUpdateBody>;

/**
 * Why a node may not name this profile, or null when it may (none named, or a known one).
 * Checked at input: a machine would otherwise only find out when it boots.
 */
export function unknownProfileReason(known: readonly string[], profile: string | null | undefined): string | null {
  if (profile === undefined || profile === null || known.includes(profile)) return null;
  return `no profile ${profile} (known: ${known.length ? known.join(', ') : 'none'})`;
}

/** Throws the 400 for a profile homeport does not have. */
export function refuseUnknownProfile(known: readonly string[], profile: string | null | undefined): void {
  const reason = unknownProfileReason(known, profile);
  if (reason) throw new ValidationError('profile', reason);
}

export const historyQuery = z.object({
  order: z.enum(['asc', 'desc']).default('asc').describe('asc: oldest first; desc: newest first'),
  limit: intFromText(1, 1000).default(100),
  offset: intFromText(0, 1e9).default(0),
});

export const nodeListQuery = z.object({
  cluster: queryText().optional(),
  profile: queryText().optional(),
  phase: queryText().optional().describe('deployment phase'),
  reprovision_status: queryText().optional(),
  status: queryText().optional(),
  limit: intFromText(1, 10000).default(1000),
  offset: intFromText(0, 1e9).default(0),
});
