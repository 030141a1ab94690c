import { z } from 'zod';
import { BIND_SOURCES } from './rounds.js';

/** Admin token, node-token secret and install rounds. */
export const authSchema = z
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
  .default({});

export type AuthConfig = z.infer<typeof authSchema>;
