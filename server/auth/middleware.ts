import type Koa from 'koa';
import { unauthorized } from '../kernel/errors.js';
import { safeEqual } from './tokens.js';

export const NODE_TOKEN_HEADER = 'x-homeport-token';

function bearer(ctx: Pick<Koa.Context, 'get'>): string | null {
  const header = ctx.get('authorization');
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match ? match[1]! : null;
}

/** Admin routes: `Authorization: Bearer <admin token>`. */
export function requireAdmin(adminToken: string): Koa.Middleware {
  return async (ctx, next) => {
    const presented = bearer(ctx);
    if (!presented) throw unauthorized('admin route: send Authorization: Bearer <admin token>');
    if (!safeEqual(presented, adminToken)) throw unauthorized('admin token is wrong');
    await next();
  };
}

/**
 * The token a phone-home call presents: the X-Homeport-Token header, a
 * `token` body field (shell clients without header support) or a bearer.
 */
export function presentedNodeToken(ctx: Pick<Koa.Context, 'get'>, bodyToken: string | undefined): string | null {
  return ctx.get(NODE_TOKEN_HEADER) || bodyToken || bearer(ctx);
}
