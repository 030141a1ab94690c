import { z } from 'zod';

/** Install phases beyond the built-in ones. */
export const phasesSchema = z
  .object({
    extra: z
      .array(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be lower_snake_case, at most 32 characters'))
      .default([])
      .describe('Extra install phases, inserted before `deployed`.'),
  })
  .strict()
  .default({});
