import { z } from 'zod';
import { ms } from '../kernel/schema.js';
import { nameField } from '../nodes/validation.js';

/** How a reprovision restarts a machine. */
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

export type ReprovisionSettings = z.infer<typeof reprovisionSchema>;
export type RedfishSettings = ReprovisionSettings['redfish'];
