import { z } from 'zod';
import { ipv4, port } from '../kernel/schema.js';

/** DHCP: off, proxyDHCP beside an existing DHCP server, or full DHCP with a pool. */
export const dhcpSchema = z
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

export type DhcpConfig = z.infer<typeof dhcpSchema>;
