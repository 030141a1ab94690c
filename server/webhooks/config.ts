import { z } from 'zod';
import { WEBHOOK_EVENTS, type WebhookEventName } from './events.js';

/** Where events go (phase changes, timeouts, cluster formed/failed). */
export const webhooksSchema = z
  .array(
    z
      .object({
        url: z
          .string()
          .url()
          .regex(/^https?:\/\//, 'must be an http(s) URL'),
        secret: z
          .string()
          .min(16, 'must be at least 16 characters')
          .optional()
          .describe('HMAC-SHA256 key for the X-Homeport-Signature header.'),
        events: z
          .array(z.enum(WEBHOOK_EVENTS as [WebhookEventName, ...WebhookEventName[]]))
          .min(1)
          .optional(),
      })
      .strict(),
  )
  .max(16)
  .default([]);

export type WebhooksConfig = z.infer<typeof webhooksSchema>;
