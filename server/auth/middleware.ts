import type Koa from 'koa';
import { unauthorized } from '../http/errors';
import { nodeToken, safeEqual } from './tokens';

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

export interface PhoneHomeAuth {
  secret: string;
  open: boolean;
}

/**
 * Phone-home calls carry the node's token (rendered into its templates) in
 * the X-Homeport-Token header or a `token` body field. With `open` (trusted
 * labs) any call is accepted.
 */
export function checkNodeToken(auth: PhoneHomeAuth, ctx: Pick<Koa.Context, 'get'>, mac: string, bodyToken: string | undefined): void {
  if (auth.open) return;
  const presented = ctx.get(NODE_TOKEN_HEADER) || bodyToken || bearer(ctx);
  if (!presented) throw unauthorized(`phone-home call for ${mac}: send the node token in ${NODE_TOKEN_HEADER} or a token field`);
  if (!safeEqual(presented, nodeToken(auth.secret, mac))) throw unauthorized(`node token for ${mac} is wrong`);
}
