import { z } from 'zod';
import { port } from '../kernel/schema.js';

/** TFTP: read-only, for firmware that is not yet iPXE. */
export const tftpSchema = z
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

export type TftpConfig = z.infer<typeof tftpSchema>;
