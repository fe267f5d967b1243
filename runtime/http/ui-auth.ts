// runtime/http/ui-auth.ts
// Browser access when BTC_TS_API_TOKEN is set: the bearer header OR a session cookie from signing in with POST /ui/session.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { Runtime } from '../context.ts';
import { BtcError } from '../errors.ts';
import { bearerMatches } from './app.ts';
import { errorResponse } from './errors.ts';

export const SESSION_COOKIE = 'btc_ts_session';
export const SIGN_IN_PATH = '/ui/session';
/** A session lasts this long, counted by the server from its own sign-in time (the cookie's Max-Age only tells the browser). */
export const SESSION_MAX_AGE_MS = 7 * 24 * 3600_000;
/** A session issued this far in the future (clock stepped back) is still accepted. */
const FUTURE_TOLERANCE_MS = 5 * 60_000;

/**
 * Cookie value `<issuedAtMs>.<hex HMAC-SHA256(token, "btc-ts dashboard session v2 <issuedAtMs>")>`:
 * it proves the visitor knew the token without storing the token in the browser, and carries its
 * own age, so the server ends it after SESSION_MAX_AGE_MS whatever the browser keeps.
 */
export function sessionValue(token: string, issuedAtMs: number): string {
  const at = Math.floor(issuedAtMs);
  return `${at}.${createHmac('sha256', token).update(`btc-ts dashboard session v2 ${at}`).digest('hex')}`;
}

/** True when `cookie` is a session this token issued less than SESSION_MAX_AGE_MS before `nowMs`. */
export function sessionValid(cookie: string | undefined, token: string, nowMs: number): boolean {
  const m = /^(\d{1,16})\.[0-9a-f]{64}$/.exec(cookie ?? '');
  if (!m) return false;
  const issuedAt = Number(m[1]);
  if (nowMs - issuedAt > SESSION_MAX_AGE_MS || issuedAt - nowMs > FUTURE_TOLERANCE_MS) return false;
  return sameSecret(cookie!, sessionValue(token, issuedAt));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface UiAuth {
  /** Bearer header or a live session cookie (cross-site requests are refused before this, see security.ts). */
  guard: MiddlewareHandler;
  /** `POST /ui/session` with form field `token` (and `next`, a local path): sets the cookie, 303 to `next`. */
  signIn: (c: Context) => Promise<Response>;
  /** True when the request may see the UI. */
  allowed(c: Context): boolean;
}

/**
 * `onDenied` answers a browser page (the sign-in form); API-style callers (JSON, fetch) get the
 * contract's 401 body.
 */
export function createUiAuth(runtime: Runtime, onDenied: (c: Context, wrongToken: boolean, next: string) => Response | Promise<Response>): UiAuth {
  const token = runtime.loaded.secrets.BTC_TS_API_TOKEN;
  const { trustProxy } = runtime.loaded.config.http;

  const allowed = (c: Context): boolean => {
    if (!token) return true;
    if (bearerMatches(c.req.header('authorization'), token)) return true;
    return sessionValid(getCookie(c, SESSION_COOKIE), token, runtime.clock.now());
  };

  const wantsHtml = (c: Context) => c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html');

  const guard: MiddlewareHandler = async (c, next) => {
    if (!allowed(c)) {
      if (wantsHtml(c)) return onDenied(c, false, c.req.path);
      return errorResponse(c, new BtcError('Unauthorized', 'missing or wrong bearer token (or dashboard session)'), runtime.masker, runtime.log);
    }
    await next();
  };

  const signIn = async (c: Context): Promise<Response> => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const next = localPath(form.next);
    if (!token) return c.redirect(next, 303);
    const given = typeof form.token === 'string' ? form.token : '';
    if (!sameSecret(given, token)) return onDenied(c, true, next);
    const https = new URL(c.req.url).protocol === 'https:' || (trustProxy && c.req.header('x-forwarded-proto')?.split(',')[0]?.trim() === 'https');
    setCookie(c, SESSION_COOKIE, sessionValue(token, runtime.clock.now()), {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
      maxAge: Math.floor(SESSION_MAX_AGE_MS / 1000),
      secure: https,
    });
    return c.redirect(next, 303);
  };

  return { guard, signIn, allowed };
}

/** `next` of the sign-in form: a path on this server only (never `//host` or a URL), else `/`. */
function localPath(value: unknown): string {
  return typeof value === 'string' && /^\/(?![/\\])[A-Za-z0-9/_.#-]*$/.test(value) ? value : '/';
}
