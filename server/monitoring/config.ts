import { z } from 'zod';

/** The status page (/monitoring) and its event stream (/api/events). */
export const monitoringSchema = z
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

export type MonitoringConfig = z.infer<typeof monitoringSchema>;
