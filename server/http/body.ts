import type { IncomingMessage } from 'node:http';
import type Koa from 'koa';
import { ValidationError, badRequest, payloadTooLarge, unsupportedMediaType } from '../kernel/errors.js';

/**
 * Request bodies: JSON (installers, the CLI, the admin API) and HTML/curl
 * forms (busybox wget clients, the login page). Ours rather than
 * @koa/bodyparser because the phone-home calls of a whole rack arrive at
 * once: its stack (type-is, co-body, raw-body, iconv, bourne) cost about
 * 25 µs of the ~365 µs a phase report took (measured with
 * scripts/bench/phase-bench.ts and --cpu-prof).
 */

declare module 'koa' {
  interface Request {
    /** The parsed JSON or form body; undefined when the request had neither. */
    body?: unknown;
  }
}

const JSON_TYPES = new Set([
  'application/json',
  'application/json-patch+json',
  'application/vnd.api+json',
  'application/csp-report',
  'application/scim+json',
]);
const FORM_TYPE = 'application/x-www-form-urlencoded';
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

const looksLikeJson = (text: string) => /^\s*[{[]/.test(text);

/** `application/json; charset=utf-8` → { type: 'application/json', charset: 'utf-8' }. */
export function parseContentType(header: string | undefined): { type: string; charset: string | null } {
  if (!header) return { type: '', charset: null };
  const [type = '', ...params] = header.split(';');
  const charset = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('charset='));
  return {
    type: type.trim().toLowerCase(),
    charset: charset ? charset.slice('charset='.length).replace(/^"|"$/g, '') : null,
  };
}

/** Which parser a content type gets; null: the body is not read. */
export function bodyKind(type: string): 'json' | 'form' | null {
  if (JSON_TYPES.has(type)) return 'json';
  return type === FORM_TYPE ? 'form' : null;
}

/**
 * A JSON body must be an object or an array (a bare string or number is a
 * client error); an empty one is `{}`. Keys that could poison a prototype
 * when a handler spreads the object are refused.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return {};
  if (!looksLikeJson(text)) throw badRequest('invalid JSON: only an object or an array is accepted');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw badRequest(`invalid JSON: ${(err as Error).message}`);
  }
  if (text.includes('__proto__') || text.includes('prototype')) refusePrototypeKeys(value);
  return value;
}

/** Walks the value without recursion (a body may nest thousands deep). */
function refusePrototypeKeys(value: unknown): void {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item === null || typeof item !== 'object') continue;
    if (Object.prototype.hasOwnProperty.call(item, '__proto__'))
      throw badRequest('invalid JSON: __proto__ is not accepted as a key');
    const constructor = (item as Record<string, unknown>).constructor;
    if (
      Object.prototype.hasOwnProperty.call(item, 'constructor') &&
      constructor !== null &&
      typeof constructor === 'object' &&
      'prototype' in constructor
    ) {
      throw badRequest('invalid JSON: constructor.prototype is not accepted as a key');
    }
    stack.push(...Object.values(item));
  }
}

/** A form body: every field once (a repeated field is ambiguous for a scalar API). */
export function parseFormBody(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    if (Object.prototype.hasOwnProperty.call(fields, key)) throw new ValidationError(key, 'is given more than once');
    Object.defineProperty(fields, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return fields;
}

/** The body's text (UTF-8), at most `limitBytes`: 413 beyond it, checked on Content-Length first. */
export function readBodyText(req: IncomingMessage, limitBytes: number): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > limitBytes) return Promise.reject(payloadTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const fail = (err: Error) => {
      cleanup();
      req.resume(); // discard the rest, so the connection can carry the answer
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limitBytes) fail(payloadTooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'));
    };
    const onError = (err: Error) => fail(badRequest(`request body could not be read: ${err.message}`));
    const onClose = () => fail(badRequest('the client closed the connection before sending the whole body'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

const ACCEPTED_TYPES = 'send application/json or application/x-www-form-urlencoded';

/**
 * Reads and parses a JSON or form body; undefined when the request carries none.
 * A body of any other type is a 415 naming its type, and so is JSON sent as a
 * form (curl -d without -H 'content-type: application/json'): read as a form it
 * would lose every field and be answered "phase: is required".
 */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<unknown> {
  const { type, charset } = parseContentType(req.headers['content-type']);
  const kind = bodyKind(type);
  if (!kind) {
    if (!carriesBody(req)) return undefined;
    req.resume(); // discard it, so the connection can carry the answer
    throw unsupportedMediaType(`content-type ${type || '(none)'} is not accepted: ${ACCEPTED_TYPES}`);
  }
  if (charset && charset !== 'utf-8' && charset !== 'utf8' && charset !== 'us-ascii')
    throw unsupportedMediaType(`charset ${charset}: bodies are read as UTF-8`);
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding.toLowerCase() !== 'identity')
    throw unsupportedMediaType(`content-encoding ${encoding} is not accepted`);
  const text = await readBodyText(req, limitBytes);
  if (kind === 'form' && looksLikeJson(text))
    throw unsupportedMediaType(
      `content-type ${type} but the body is JSON: send it as application/json (curl -H 'content-type: application/json')`,
    );
  return kind === 'json' ? parseJsonBody(text) : parseFormBody(text);
}

function carriesBody(req: IncomingMessage): boolean {
  return Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
}

/** Koa middleware: parses the body of POST, PUT and PATCH into ctx.request.body. */
export function bodyMiddleware(limitBytes: number): Koa.Middleware {
  return async (ctx, next) => {
    if (METHODS_WITH_BODY.has(ctx.method) && ctx.request.body === undefined)
      ctx.request.body = await readBody(ctx.req, limitBytes);
    await next();
  };
}
