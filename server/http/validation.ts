import { z, type ZodIssue } from 'zod';
import { ValidationError } from '../kernel/errors.js';

/** Parses a body with a schema; the first problem becomes one message naming the field. */
export function parseBody<T extends z.ZodTypeAny>(schema: T, body: unknown): z.infer<T> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError('body', 'must be a JSON object (or a form)');
  }
  refuseUnstorableText(body);
  return parseWith(schema, body);
}

/**
 * Control characters other than tab, newline and carriage return. NUL cannot be
 * stored in a PostgreSQL text column at all (the whole statement fails, and with
 * it every report of its group commit); the rest are terminal escapes and
 * garbage in logs, the CLI and the status page. No field has a use for them.
 */
const UNSTORABLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
export const UNSTORABLE_RULE = 'must not contain NUL or other control characters (tab and newline are fine)';

/** Every string of a parsed body or query (keys too), walked without recursion; a 400 naming the first that holds one. */
export function refuseUnstorableText(value: unknown, prefix = ''): void {
  const stack: { path: string; value: unknown }[] = [{ path: prefix, value }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item.value === 'string') {
      if (UNSTORABLE.test(item.value)) throw new ValidationError(item.path || 'body', UNSTORABLE_RULE);
    } else if (item.value !== null && typeof item.value === 'object') {
      for (const [key, child] of Object.entries(item.value)) {
        const path = item.path ? `${item.path}.${key}` : key;
        if (UNSTORABLE.test(key)) throw new ValidationError(path, UNSTORABLE_RULE);
        stack.push({ path, value: child });
      }
    }
  }
}

/** Parses the query string (Koa's ctx.query: a value is a string, or an array when repeated); errors name `query <field>`. */
export function parseQuery<T extends z.ZodTypeAny>(schema: T, query: unknown): z.infer<T> {
  try {
    refuseUnstorableText(query ?? {});
  } catch (err) {
    if (err instanceof ValidationError) throw new ValidationError(`query ${err.field}`, err.rule);
    throw err;
  }
  const result = schema.safeParse(query ?? {});
  if (result.success) return result.data as z.infer<T>;
  const error = toValidationError(result.error.issues[0]!);
  throw new ValidationError(`query ${error.field}`, error.rule);
}

/** Parses any value; `field` prefixes the field named in the error (e.g. `params` of a job). */
export function parseWith<T extends z.ZodTypeAny>(schema: T, value: unknown, field?: string): z.infer<T> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw toValidationError(field ? { ...issue, path: [field, ...issue.path] } : issue);
  }
  return result.data as z.infer<T>;
}

function toValidationError(issue: ZodIssue): ValidationError {
  if (issue.code === 'unrecognized_keys') return new ValidationError(issue.keys.join(', '), 'unknown field');
  const field = issue.path.join('.') || 'body';
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return new ValidationError(field, 'is required');
  if (issue.code === 'invalid_enum_value')
    return new ValidationError(field, `must be one of ${issue.options.join(', ')}`);
  return new ValidationError(field, issue.message);
}

/** An integer in [min, max]; also as text, since forms and query strings carry numbers as text. */
export const intFromText = (min: number, max: number) => {
  const rule = `must be an integer from ${min} to ${max}`;
  return z.preprocess(
    (v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
    z.number({ invalid_type_error: rule }).int(rule).min(min, rule).max(max, rule),
  );
};

/** A query value given once (Koa makes a repeated one an array), at most `max` characters. */
export const queryText = (max = 64) =>
  z
    .string({ invalid_type_error: `must be given once, at most ${max} characters` })
    .max(max, `must be given once, at most ${max} characters`);
