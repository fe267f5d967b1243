// runtime/http/ui-auth.ts
// Browser access when BTC_TS_API_TOKEN is set: the bearer header OR a session cookie set by visiting /?token=… once.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';
import type { Runtime } from '../context.ts';
import { BtcError } from '../errors.ts';
import { bearerMatches } from './app.ts';
import { errorResponse } from './errors.ts';

export const SESSION_COOKIE = 'btc_ts_session';
/** A browser stays signed in this long; rotating the token ends every session at once. */
const SESSION_MAX_AGE_S = 7 * 24 * 3600;

/**
 * The cookie holds an HMAC of the token, not the token: it proves the visitor knew the token
 * without writing the token itself into the browser's cookie store.
 */
export function sessionValue(token: string): string {
  return createHmac('sha256', token).update('btc-ts dashboard session v1').digest('hex');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export interface UiAuth {
  /** Bearer header or session cookie; unsafe methods must also come from this page's own origin. */
  guard: MiddlewareHandler;
  /** `GET /?token=…`: sets the cookie and redirects to the same path without the token. */
  signIn: MiddlewareHandler;
  /** True when the request may see the UI. */
  allowed(c: Context): boolean;
}

/**
 * `onDenied` answers a browser page (the sign-in form); API-style callers (JSON, fetch) get the
 * contract's 401 body.
 */
export function createUiAuth(runtime: Runtime, onDenied: (c: Context, wrongToken: boolean) => Response | Promise<Response>): UiAuth {
  const token = runtime.loaded.secrets.BTC_TS_API_TOKEN;
  const expectedSession = token ? sessionValue(token) : '';

  const allowed = (c: Context): boolean => {
    if (!token) return true;
    if (bearerMatches(c.req.header('authorization'), token)) return true;
    const cookie = getCookie(c, SESSION_COOKIE);
    return cookie !== undefined && sameSecret(cookie, expectedSession);
  };

  const wantsHtml = (c: Context) => c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html');

  const guard: MiddlewareHandler = async (c, next) => {
    if (!allowed(c)) {
      if (wantsHtml(c)) return onDenied(c, false);
      return errorResponse(c, new BtcError('Unauthorized', 'missing or wrong bearer token (or dashboard session)'), runtime.masker, runtime.log);
    }
    // The cookie rides along on cross-site requests in old browsers; SameSite=Strict plus an
    // Origin check keeps another site from pressing our buttons.
    if (token && c.req.method !== 'GET' && c.req.method !== 'HEAD' && !c.req.header('authorization')) {
      const origin = c.req.header('origin');
      if (origin && origin !== new URL(c.req.url).origin) {
        return errorResponse(c, new BtcError('Unauthorized', 'cross-origin request refused'), runtime.masker, runtime.log);
      }
    }
    await next();
  };

  const signIn: MiddlewareHandler = async (c, next) => {
    const given = c.req.query('token');
    if (given === undefined) return next();
    if (!token) return c.redirect(c.req.path, 303);
    if (!sameSecret(given, token)) return onDenied(c, true);
    setCookie(c, SESSION_COOKIE, expectedSession, {
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
      maxAge: SESSION_MAX_AGE_S,
      secure: new URL(c.req.url).protocol === 'https:',
    });
    // Drop the token from the address bar and the history.
    return c.redirect(c.req.path, 303);
  };

  return { guard, signIn, allowed };
}
