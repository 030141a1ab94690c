import { z } from 'zod';
import { authSchema } from '../auth/config.js';
import { bootSchema } from '../boot/config.js';
import { clustersSchema } from '../cluster/config.js';
import { dhcpSchema } from '../dhcp/config.js';
import { httpSchema } from '../http/config.js';
import { logSchema } from '../log/config.js';
import { monitoringSchema } from '../monitoring/config.js';
import { phasesSchema } from '../nodes/config.js';
import { reprovisionSchema } from '../reprovision/config.js';
import { sshSchema } from '../ssh/config.js';
import { databaseSchema } from '../store/config.js';
import { tftpSchema } from '../tftp/config.js';
import { timelineSchema } from '../timeline/config.js';
import { watcherSchema } from '../watcher/config.js';
import { webhooksSchema } from '../webhooks/config.js';

/**
 * The whole configuration, composed from each domain's section (each lives
 * in its domain's config.ts). Every key has a default, so an empty file (or no
 * file) is a valid config: SQLite under ./data, HTTP on 8080, DHCP and TFTP off.
 */
export const configSchema = z
  .object({
    dataDir: z.string().min(1).default('./data'),
    log: logSchema,
    http: httpSchema,
    database: databaseSchema,
    auth: authSchema,
    phases: phasesSchema,
    boot: bootSchema,
    dhcp: dhcpSchema,
    tftp: tftpSchema,
    timeline: timelineSchema,
    ssh: sshSchema,
    reprovision: reprovisionSchema,
    watcher: watcherSchema,
    clusters: clustersSchema,
    monitoring: monitoringSchema,
    webhooks: webhooksSchema,
  })
  .strict();

export type Config = z.infer<typeof configSchema>;
