import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../server/log/logger.js';

/** A real pino logger whose JSON lines the test can read (e.g. to prove a token never appears). */
export function captureLogger(level = 'debug'): {
  log: Logger;
  text(): string;
  lines(): Record<string, unknown>[];
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
} {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  });
  const log = pino({ level }, stream);
  return {
    log,
    text: () => text,
    lines: () =>
      text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async waitFor(pattern, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(text)) {
        if (Date.now() > deadline) throw new Error(`log never matched ${pattern}:\n${text}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
}
