import { z } from 'zod';

const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

export const logSchema = z
  .object({ level: logLevel.default('info') })
  .strict()
  .default({});
