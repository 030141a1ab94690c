import { z } from 'zod';

/** Field types the config sections of several domains share. */
export const port = z.number().int().min(1).max(65535);

/** A duration in milliseconds between min and max. */
export const ms = (min: number, max: number) => z.number().int().min(min).max(max);

export const ipv4 = z
  .string()
  .regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'must be an IPv4 address');
