import { Readable } from 'node:stream';
import type Koa from 'koa';
import { z } from 'zod';
import { ApiRouter, type DirectContext } from '../http/api.js';
import { HttpError, notFound, ValidationError } from '../kernel/errors.js';
import type { Logger } from '../log/logger.js';
import { normalizeMac } from '../nodes/mac.js';
import { serveFile, type AssetServing } from './assets.js';
import { UnsafeValueError } from './escape.js';
import { entryScript, errorScript } from './ipxe.js';
import { CLIENT_SCRIPTS } from './paths.js';
import { ConfigNotFound, type BootService, type Served } from './service.js';
import type { BootEvents } from '../timeline/service.js';
import { TemplateError } from './templates.js';

export interface BootRoutesOptions {
  service: BootService;
  log: Logger;
  /** http.publicUrl; unset: derived from the request's Host. */
  publicUrl: string | undefined;
  retrySeconds: number;
  assetsDir: string;
  ipxeDir: string;
  clientsDir: string;
  /** Shared chunks of the files served (boot.assetCacheMb) and the stall limit (boot.assetStallSeconds). */
  assets: AssetServing;
  /** Where scripts, configs and assets served are recorded (timeline.enabled). */
  timeline?: BootEvents;
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
export function bootRouter(options: BootRoutesOptions): ApiRouter {
  const api = new ApiRouter();
  const { service, timeline } = options;
  const script = {
    200: {
      description:
        'an iPXE script; errors too are scripts with status 200 (iPXE does not run a 4xx body). X-Homeport-Boot names the outcome.',
      contentType: 'text/plain',
    },
  };
  // Any failure of a script route (a bad query included) becomes an iPXE error script.
  const recover = (ctx: DirectContext, err: unknown) =>
    sendScript(ctx, options, { kind: 'error', body: errorScript(scriptErrorMessage(err, options.log, ctx.path)) });

  // The scripts every booting machine asks for are served in front of Koa (http/direct.ts).
  api.directEndpoint(
    {
      method: 'get',
      path: '/boot.ipxe',
      tag: 'boot',
      summary: 'The entry script: chains to the per-MAC script with uuid, arch and platform',
      auth: 'public',
      recover,
      responses: script,
    },
    (ctx) => {
      sendScript(ctx, options, {
        kind: 'entry',
        body: entryScript({ baseUrl: baseUrl(ctx, options.publicUrl), retrySeconds: options.retrySeconds }),
      });
      timeline?.recordFrom(ctx.ip, (mac) => ({ mac, source: 'http', kind: 'entry_script', outcome: 'served' }));
    },
  );

  const perMac = /^\/boot\/([^/]+)\.ipxe$/;
  api.directEndpoint(
    {
      method: 'get',
      path: '/boot/:mac.ipxe',
      match: perMac,
      tag: 'boot',
      summary: "A machine's boot script: its profile's kernel and initrd, local boot, or a wait",
      auth: 'public',
      params: { mac: 'MAC address, any spelling (iPXE sends aa-bb-cc-dd-ee-ff)' },
      query: ipxeQuery,
      recover,
      responses: script,
    },
    async (ctx, { query }) => {
      const mac = normalizeMac(macParam(ctx, perMac));
      if (!mac) throw new ValidationError('mac', 'must be a MAC address such as 52-54-00-12-34-56');
      const served = await service.scriptFor(
        mac,
        { uuid: query.uuid ?? null, arch: query.arch ?? null },
        baseUrl(ctx, options.publicUrl),
        ctx.ip,
      );
      sendScript(ctx, options, served);
      recordNodeScript(timeline, ctx.ip, mac, served);
    },
  );

  const config = async (ctx: Koa.Context) => {
    const mac = normalizeMac(ctx.params.mac!);
    if (!mac) throw new ValidationError('mac', 'must be a MAC address');
    const name = ctx.params.name!;
    const record = (outcome: string, reason?: string) =>
      timeline?.record({ mac, source: 'config', kind: 'config', outcome, detail: { name, reason, client: ctx.ip } });
    try {
      ctx.body = await service.configFor(mac, name, baseUrl(ctx, options.publicUrl), ctx.ip);
      ctx.type = 'text/plain; charset=utf-8';
      record('served');
    } catch (err) {
      record('refused', err instanceof Error ? err.message : undefined);
      throw asHttpError(err, options.log, mac);
    }
  };
  const configSpec = {
    path: '/config/:mac/:name',
    tag: 'boot',
    auth: 'public',
    params: {
      mac: 'MAC address',
      name: "a template of the node's profile (preseed, kickstart, answer.toml, user-data, ...)",
    },
    responses: {
      200: { description: 'the rendered template', contentType: 'text/plain' },
      400: 'not a MAC address',
      404: 'no such node or template',
      422: 'a node value is unsafe to render',
      500: 'the template failed to render',
    },
  } as const;
  api.endpoint(
    {
      ...configSpec,
      method: 'get',
      summary: "A node's rendered installer config (preseed, kickstart, answer file, cloud-init)",
    },
    config,
  );
  // The Proxmox installer POSTs its system information to the answer URL.
  api.endpoint(
    { ...configSpec, method: 'post', summary: 'The same, for installers that POST their system information (Proxmox)' },
    config,
  );

  const file = {
    200: {
      description: 'the file (Range and conditional requests supported)',
      contentType: 'application/octet-stream',
    },
    206: 'a byte range of the file',
    304: 'not modified',
    404: 'no such file under the directory',
    416: 'the range is outside the file',
  };
  /** A public tree of files under one URL prefix, confined to its directory. */
  const fileTree = (prefix: string, dir: string, summary: string, pathRule: string) =>
    api.endpoint(
      {
        method: 'get',
        path: `/${prefix}/:path`,
        match: new RegExp(`^/${prefix}/.+`),
        tag: 'boot',
        summary,
        auth: 'public',
        params: { path: pathRule },
        responses: file,
      },
      (ctx) =>
        trackAsset(ctx, timeline, () => serveFile(ctx, dir, ctx.path.slice(`/${prefix}/`.length), options.assets)),
    );
  fileTree(
    'assets',
    options.assetsDir,
    'A file under boot.assetsDir (kernels, initrds, images)',
    'path under boot.assetsDir; no .., no symlinks out',
  );
  fileTree(
    'ipxe',
    options.ipxeDir,
    'An iPXE binary under boot.ipxeDir (for UEFI HTTP boot)',
    'path under boot.ipxeDir',
  );
  api.endpoint(
    {
      method: 'get',
      path: '/clients/:name',
      tag: 'boot',
      summary: 'A phone-home shell client shipped with homeport',
      auth: 'public',
      params: { name: CLIENT_SCRIPTS.join(', ') },
      responses: { ...file, 404: 'no such client' },
    },
    async (ctx) => {
      const name = ctx.params.name!;
      if (!(CLIENT_SCRIPTS as readonly string[]).includes(name))
        throw notFound(`no client ${name}; there are ${CLIENT_SCRIPTS.join(', ')}`);
      await serveFile(ctx, options.clientsDir, name, options.assets);
    },
  );
  return api;
}

/** The per-MAC script served, with why; it also tells the timeline which MAC this address is. */
function recordNodeScript(timeline: BootEvents | undefined, address: string, mac: string, served: Served): void {
  if (!timeline) return;
  timeline.addresses.learn(address, mac);
  timeline.record({
    mac,
    source: 'http',
    kind: 'node_script',
    outcome: served.kind,
    detail: { ...served.why, client: address },
  });
}

/**
 * Records a download (kernel, initrd, iPXE binary) of the machine at this
 * address when it ends: bytes handed to the socket of the total (the client
 * may have received fewer), or aborted; a 404 names
 * the file. Counting chunks costs one listener call per 256 KiB.
 */
async function trackAsset(
  ctx: Koa.Context,
  timeline: BootEvents | undefined,
  serve: () => Promise<void>,
): Promise<void> {
  if (!timeline) return serve();
  const path = ctx.path;
  const record = (outcome: string, detail: Record<string, string | number | undefined> = {}) =>
    timeline.recordFrom(ctx.ip, (mac) => ({
      mac,
      source: 'asset',
      kind: 'asset',
      outcome,
      detail: { path, ...detail },
    }));
  try {
    await serve();
  } catch (err) {
    record(err instanceof HttpError && err.status === 404 ? 'not_found' : 'refused', {
      status: err instanceof HttpError ? err.status : 500,
    });
    throw err;
  }
  const body: unknown = ctx.body;
  if (!(body instanceof Readable)) return;
  const total = ctx.length;
  let sent = 0;
  body.on('data', (chunk: Buffer) => (sent += chunk.length));
  ctx.res.once('close', () =>
    record(ctx.res.writableFinished ? 'complete' : 'aborted', {
      bytes: sent,
      total,
      status: ctx.status,
      range: ctx.get('range') || undefined,
    }),
  );
}

/** Sends an iPXE script: always 200 with the outcome in a header. */
function sendScript(ctx: DirectContext, options: BootRoutesOptions, outcome: { kind: string; body: string }): void {
  // Which script a machine got is the first thing to know when it does not boot.
  options.log.info({ path: ctx.path, outcome: outcome.kind, client: ctx.ip }, 'boot script served');
  ctx.status = 200;
  ctx.type = 'text/plain; charset=utf-8';
  ctx.set(OUTCOME_HEADER, outcome.kind);
  ctx.set('Cache-Control', 'no-store');
  ctx.body = outcome.body;
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

function macParam(ctx: DirectContext, pattern: RegExp): string {
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
  uuid: queryValue(
    z
      .string({ invalid_type_error: 'must be given once' })
      .uuid('must be a UUID')
      .transform((u) => u.toLowerCase()),
  ),
  arch: queryValue(
    z
      .string({ invalid_type_error: 'must be given once' })
      .regex(/^[a-z0-9_]{1,32}$/, 'must be an iPXE buildarch such as x86_64'),
  ),
  platform: queryValue(
    z
      .string({ invalid_type_error: 'must be given once' })
      .regex(/^[a-z0-9_]{1,16}$/, 'must be an iPXE platform such as pcbios or efi'),
  ),
});

/** A Host header that is a plain host[:port]; anything else is not used in a URL we render. */
const SAFE_HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)(:\d{1,5})?$/i;

/** http.publicUrl, else the address the machine reached us at. */
export function baseUrl(ctx: DirectContext, publicUrl: string | undefined): string {
  if (publicUrl) return publicUrl.replace(/\/+$/, '');
  const host = ctx.get('host');
  if (SAFE_HOST.test(host)) return `${ctx.protocol}://${host}`;
  const socket = ctx.req.socket;
  const address = socket.localFamily === 'IPv6' ? `[${socket.localAddress}]` : socket.localAddress;
  return `${ctx.protocol}://${address}:${socket.localPort}`;
}
