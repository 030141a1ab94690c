import { z } from 'zod';

/** Boot events (issue 19): how many are kept, and the limits the verdict judges an attempt by. */
export const timelineSchema = z
  .object({
    enabled: z.boolean().default(true),
    maxEventsPerNode: z.number().int().min(10).max(10000).default(200),
    maxAgeDays: z.number().int().min(1).max(3650).default(30),
    seenLimit: z.number().int().min(1).max(100000).default(256),
    noPhoneHomeMinutes: z.number().min(1).max(1440).default(20),
    phaseStallMinutes: z.number().min(1).max(1440).default(60),
  })
  .strict()
  .default({});

export type TimelineConfig = z.infer<typeof timelineSchema>;
