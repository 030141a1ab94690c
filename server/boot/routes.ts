import Router from '@koa/router';
import type Koa from 'koa';
import { z } from 'zod';
import { HttpError, notFound, ValidationError } from '../http/errors';
import type { Logger } from '../log/logger';
import { normalizeMac } from '../nodes/mac';
import { serveFile } from './assets';
import { UnsafeValueError } from './escape';
import { entryScript, errorScript } from './ipxe';
import { CLIENT_SCRIPTS } from './paths';
import { ConfigNotFound, type BootService, type IpxeFacts } from './service';
import { TemplateError } from './templates';

export interface BootRoutesOptions {
  service: BootService;
  log: Logger;
  /** http.publicUrl; unset: derived from the request's Host. */
  publicUrl: string | undefined;
  retrySeconds: number;
  assetsDir: string;
  ipxeDir: string;
  clientsDir: string;
}

/** Tells tests, curl and logs what a script does; iPXE itself only reads the body. */
const OUTCOME_HEADER = 'X-Homeport-Boot';

/**
 * HTTP boot. Everything under /boot is read by iPXE, so every answer there,
 * errors included, is an iPXE script with status 200: iPXE does not run the
 * body of a 4xx/5xx, and a script can tell the person at the console what is
 * wrong and let the entry script retry. Configs, assets and clients answer
 * like the rest of the API (JSON errors).
 */
export function bootRouter(options: BootRoutesOptions): Router {
  const router = new Router();
  const { service } = options;

  router.get('/boot.ipxe', ipxe(options, async (ctx) => ({ kind: 'entry', body: entryScript({ baseUrl: baseUrl(ctx, options.publicUrl), retrySeconds: options.retrySeconds }) })));

  router.get(
    /^\/boot\/([^/]+)\.ipxe$/,
    ipxe(options, async (ctx) => {
      const mac = normalizeMac(macParam(ctx, /^\/boot\/([^/]+)\.ipxe$/));
      if (!mac) throw new ValidationError('mac', 'must be a MAC address such as 52-54-00-12-34-56');
      return service.scriptFor(mac, ipxeFacts(ctx), baseUrl(ctx, options.publicUrl), ctx.ip);
    }),
  );

  const config = async (ctx: Koa.Context) => {
    const mac = normalizeMac(ctx.params.mac!);
    if (!mac) throw new ValidationError('mac', 'must be a MAC address');
    try {
      ctx.body = await service.configFor(mac, ctx.params.name!, baseUrl(ctx, options.publicUrl), ctx.ip);
      ctx.type = 'text/plain; charset=utf-8';
    } catch (err) {
      throw asHttpError(err, options.log, mac);
    }
  };
  // The Proxmox installer POSTs its system information to the answer URL.
  router.get('/config/:mac/:name', config);
  router.post('/config/:mac/:name', config);

  router.get(/^\/assets\/.+/, (ctx) => serveFile(ctx, options.assetsDir, ctx.path.slice('/assets/'.length)));
  router.get(/^\/ipxe\/.+/, (ctx) => serveFile(ctx, options.ipxeDir, ctx.path.slice('/ipxe/'.length)));
  router.get('/clients/:name', async (ctx) => {
    const name = ctx.params.name!;
    if (!(CLIENT_SCRIPTS as readonly string[]).includes(name)) throw notFound(`no client ${name}; there are ${CLIENT_SCRIPTS.join(', ')}`);
    await serveFile(ctx, options.clientsDir, name);
  });
  return router;
}

type ScriptHandler = (ctx: Koa.Context) => Promise<{ kind: string; body: string }>;

/** Runs a handler whose answer is an iPXE script; any failure becomes an iPXE error script. */
function ipxe(options: BootRoutesOptions, handler: ScriptHandler): Koa.Middleware {
  return async (ctx) => {
    let outcome: { kind: string; body: string };
    try {
      outcome = await handler(ctx);
    } catch (err) {
      outcome = { kind: 'error', body: errorScript(scriptErrorMessage(err, options.log, ctx.path)) };
    }
    // Which script a machine got is the first thing to know when it does not boot.
    options.log.info({ path: ctx.path, outcome: outcome.kind, client: ctx.ip }, 'boot script served');
    ctx.status = 200;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set(OUTCOME_HEADER, outcome.kind);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = outcome.body;
  };
}

function scriptErrorMessage(err: unknown, log: Logger, urlPath: string): string {
  if (err instanceof HttpError) return err.detail;
  if (err instanceof UnsafeValueError || err instanceof TemplateError) {
    log.warn({ path: urlPath, err: err.message }, 'boot script not rendered');
    return `refusing to render the boot script: ${err.message}`;
  }
  log.error({ err, path: urlPath }, 'boot script failed');
  return 'homeport failed to build this boot script; see its log';
}

function asHttpError(err: unknown, log: Logger, mac: string): unknown {
  if (err instanceof ConfigNotFound) return notFound(err.message);
  if (err instanceof UnsafeValueError) {
    log.warn({ mac, err: err.message }, 'config not rendered');
    return new HttpError(422, 'unsafe_value', `refusing to render: ${err.message}`);
  }
  if (err instanceof TemplateError) return new HttpError(500, 'template_error', err.message);
  return err;
}

function macParam(ctx: Koa.Context, pattern: RegExp): string {
  try {
    return decodeURIComponent(pattern.exec(ctx.path)?.[1] ?? '');
  } catch {
    return '';
  }
}

/**
 * uuid, arch and platform as iPXE expands them into the entry script's URL;
 * an unset setting arrives empty. Anything else is refused, so nothing from
 * the query reaches a stored row or a rendered script unchecked.
 */
const queryValue = <T extends z.ZodTypeAny>(schema: T) =>
  z.preprocess((v) => (v === '' ? undefined : v), schema.optional());
const ipxeQuery = z.object({
  uuid: queryValue(z.string({ invalid_type_error: 'must be given once' }).uuid('must be a UUID').transform((u) => u.toLowerCase())),
  arch: queryValue(z.string({ invalid_type_error: 'must be given once' }).regex(/^[a-z0-9_]{1,32}$/, 'must be an iPXE buildarch such as x86_64')),
  platform: queryValue(z.string({ invalid_type_error: 'must be given once' }).regex(/^[a-z0-9_]{1,16}$/, 'must be an iPXE platform such as pcbios or efi')),
});

function ipxeFacts(ctx: Koa.Context): IpxeFacts {
  const parsed = ipxeQuery.safeParse(ctx.query);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ValidationError(`query ${issue.path.join('.')}`, issue.message);
  }
  return { uuid: parsed.data.uuid ?? null, arch: parsed.data.arch ?? null };
}

/** A Host header that is a plain host[:port]; anything else is not used in a URL we render. */
const SAFE_HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)(:\d{1,5})?$/i;

/** http.publicUrl, else the address the machine reached us at. */
export function baseUrl(ctx: Koa.Context, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const host = ctx.get('host');
  if (SAFE_HOST.test(host)) return `${ctx.protocol}://${host}`;
  const socket = ctx.req.socket;
  const address = socket.localFamily === 'IPv6' ? `[${socket.localAddress}]` : socket.localAddress;
  return `${ctx.protocol}://${address}:${socket.localPort}`;
}
