import type Koa from 'koa';
import { HttpError } from '../kernel/errors.js';

/** Our HttpErrors as they are; Koa's own (ctx.throw, http-errors) by their status. */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { status?: number; statusCode?: number; message?: string; expose?: boolean };
  const status = e.status ?? e.statusCode ?? 500;
  if (status >= 400 && status < 500)
    return new HttpError(status, 'bad_request', e.expose !== false && e.message ? e.message : 'bad request');
  return new HttpError(500, 'internal_error', 'the server failed to handle this request; see its log');
}

/** The JSON every error leaves as. */
export const errorJson = (error: HttpError) => ({ error: error.error, detail: error.detail });

/** Every error leaves as JSON `{error, detail}` with the right status; 5xx are logged. */
export function errorMiddleware(onServerError: (err: unknown, ctx: Koa.Context) => void): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined)
        throw new HttpError(404, 'not_found', `no route for ${ctx.method} ${ctx.path}`);
      // The router's allowedMethods answers 405/501 with an Allow header and no body; every error is JSON.
      if (ctx.status === 405 && ctx.body === undefined)
        throw new HttpError(
          405,
          'method_not_allowed',
          `${ctx.method} is not allowed on ${ctx.path}; allowed: ${ctx.response.get('Allow') || 'none'}`,
        );
      if (ctx.status === 501 && ctx.body === undefined)
        throw new HttpError(501, 'not_implemented', `method ${ctx.method} is not implemented`);
    } catch (err) {
      const httpError = toHttpError(err);
      if (httpError.status >= 500 && httpError.status !== 501) onServerError(err, ctx);
      ctx.status = httpError.status;
      ctx.type = 'application/json';
      ctx.body = errorJson(httpError);
    }
  };
}
