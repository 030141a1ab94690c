import { z } from 'zod';

/** The database: SQLite under dataDir by default, or PostgreSQL. */
export const databaseSchema = z
  .object({
    url: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
      .optional()
      .describe('postgres://user:pass@host:port/db; DATABASE_URL in the environment sets it too.'),
    sqlitePath: z.string().min(1).default('homeport.sqlite').describe('Relative paths are under dataDir.'),
    synchronous: z.enum(['FULL', 'NORMAL']).default('FULL'),
    busyTimeoutMs: z.number().int().min(0).max(60000).default(5000),
    nodeCacheMs: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .default(1000)
      .describe(
        "How long a node read by MAC for a boot script or config is served from memory. homeport's own writes keep it exact; it bounds how long a change made by another instance on the same database goes unseen. 0: read every time.",
      ),
    groupCommitMs: z
      .number()
      .int()
      .min(0)
      .max(100)
      .default(5)
      .describe(
        'How long the first phase report (or node event) of a batch waits for others to share its commit; 0: only those that arrived in the same event-loop turn. Helps installers that connect once per call.',
      ),
  })
  .strict()
  .default({});

export type DatabaseConfig = z.infer<typeof databaseSchema>;
