import { z } from 'zod';
import { port } from '../kernel/schema.js';

/** The HTTP listener: API, boot scripts, assets, status page. */
export const httpSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0'),
    port: port.default(8080),
    publicUrl: z
      .string()
      .url()
      .optional()
      .describe('Base URL machines use to reach this server; derived from the request when unset.'),
    bodyLimitKb: z.number().int().min(1).max(10240).default(64),
    headersTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(600_000)
      .default(10_000)
      .describe('A client must send all its headers within this time (slowloris); checked every second.'),
    requestTimeoutMs: z
      .number()
      .int()
      .min(100)
      .max(3_600_000)
      .default(60_000)
      .describe('...and the whole request, body included, within this time.'),
  })
  .strict()
  .default({});

export type HttpConfig = z.infer<typeof httpSchema>;
