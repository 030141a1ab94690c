import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Structured JSON logs on stderr. Secrets never reach a log line: any field
 * named like a credential is replaced, wherever it sits in the object.
 */
export const REDACTED_KEYS = ['token', 'adminToken', 'nodeToken', 'password', 'secret', 'authorization', 'cookie'];

export function createLogger(level: string, destination: pino.DestinationStream = pino.destination(2)): Logger {
  const paths = REDACTED_KEYS.flatMap((k) => [k, `*.${k}`, `*.*.${k}`, `headers.${k}`, `req.headers.${k}`]);
  return pino({ level, base: { service: 'homeport' }, redact: { paths, censor: '[redacted]' } }, destination);
}

/** Masks a secret for display: keeps four characters so an admin can tell tokens apart. */
export function maskSecret(secret: string): string {
  return secret.length <= 8 ? '****' : `${secret.slice(0, 4)}…****`;
}
