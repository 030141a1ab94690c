/**
 * Who may read the status page and the event stream. Open by default (it is
 * read-only); with `monitoring.requireAdmin` a reader shows the admin token,
 * either as `Authorization: Bearer` (scripts) or once in the login form,
 * which sets a session cookie.
 *
 * The cookie is not the admin token: it is `expiry.HMAC(admin token, expiry)`,
 * so a leaked cookie cannot call admin APIs, expires on its own, and rotating
 * the admin token ends every session. HttpOnly keeps it from scripts,
 * SameSite=Strict from cross-site requests.
 */
import crypto from 'node:crypto';
import type Koa from 'koa';
import { safeEqual } from '../auth/tokens.js';
import { unauthorized } from '../kernel/errors.js';

export const SESSION_COOKIE = 'homeport_monitoring';

export interface AccessOptions {
  required: boolean;
  adminToken: string;
  sessionHours: number;
  clock: () => number;
}

export function sessionValue(adminToken: string, expiresAt: number): string {
  return `${expiresAt}.${crypto.createHmac('sha256', adminToken).update(`monitoring-session:${expiresAt}`).digest('base64url')}`;
}

export function isValidSession(adminToken: string, value: string | undefined, now: number): boolean {
  const match = value ? /^(\d{1,16})\.[A-Za-z0-9_-]{43}$/.exec(value) : null;
  if (!match) return false;
  const expiresAt = Number(match[1]);
  return expiresAt > now && safeEqual(value!, sessionValue(adminToken, expiresAt));
}

function bearer(ctx: Koa.Context): string | null {
  return /^Bearer\s+(\S+)\s*$/i.exec(ctx.get('authorization'))?.[1] ?? null;
}

export function isReader(access: AccessOptions, ctx: Koa.Context): boolean {
  if (!access.required) return true;
  const token = bearer(ctx);
  if (token !== null) return safeEqual(token, access.adminToken);
  return isValidSession(access.adminToken, ctx.cookies.get(SESSION_COOKIE), access.clock());
}

/** Pages send a browser to the login form; the event stream answers 401 (EventSource cannot log in). */
export function requireReader(access: AccessOptions, onDenied: 'login' | 'error'): Koa.Middleware {
  return async (ctx, next) => {
    if (isReader(access, ctx)) return next();
    if (onDenied === 'error')
      throw unauthorized(
        'monitoring requires the admin token: log in at /monitoring/login or send Authorization: Bearer <admin token>',
      );
    ctx.status = 303;
    ctx.redirect(`/monitoring/login?next=${encodeURIComponent(ctx.originalUrl)}`);
  };
}

export function startSession(access: AccessOptions, ctx: Koa.Context): void {
  const maxAge = access.sessionHours * 3600_000;
  ctx.cookies.set(SESSION_COOKIE, sessionValue(access.adminToken, access.clock() + maxAge), {
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: '/',
    maxAge,
    overwrite: true,
  });
}

export function endSession(ctx: Koa.Context): void {
  ctx.cookies.set(SESSION_COOKIE, '', {
    httpOnly: true,
    sameSite: 'strict',
    secure: ctx.secure,
    path: '/',
    maxAge: 0,
    overwrite: true,
  });
}

/** Only a path on this page: a login link must not become an open redirect. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/monitoring(?:[/?#]|$)/.test(next) && !next.includes('\\')
    ? next
    : '/monitoring';
}
