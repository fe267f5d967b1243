// runtime/http/security.ts
// Defences of the HTTP face that hold with or without a token: Host allow-list, same-origin rule, JSON-only bodies, headers.

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import os from 'node:os';
import type { Context, MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { BtcError } from '../errors.ts';
import { REFRESH_SCRIPT } from './dashboard-script.ts';
import { STYLE } from './layout.tsx';

/**
 * Names every runtime answers to. A browser only sends one of these in `Host` when the operator
 * typed it; a DNS-rebinding page sends its own domain, which is refused.
 */
const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '[::1]'];
const WILDCARD_BINDS = new Set(['0.0.0.0', '::', '[::]']);
/** Methods that change nothing: the same-origin rule leaves them alone (they still pass the Host check). */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SiteGuardOptions {
  /** The HTTP bind address (`http.host`). */
  bindHost: string;
  /** `http.allowedHosts`: `name` (any port) or `name:port`. */
  allowedHosts: readonly string[];
}

/** Why a request was refused before any route ran (the `reason` label of btc_ts_http_refused_total). */
export type RefusalReason = 'host' | 'cross_site' | 'content_type';
export type OnRefused = (reason: RefusalReason, c: Context) => void;

/** True for an address that only this machine can reach: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** `name[:port]` of a Host header or URL host, lower-cased; IPv6 stays bracketed. Null when malformed. */
export function splitHost(value: string): { name: string; port: number | null } | null {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/.exec(value.trim().toLowerCase());
  if (!m) return null;
  return { name: m[1]!, port: m[2] === undefined ? null : Number(m[2]) };
}

/**
 * The Host check (RFC 9110 §7.2; the standard defence against DNS rebinding). The runtime's own
 * names must come with the port the request arrived on (when the socket tells it); configured
 * names without a port match any port (a reverse proxy's).
 */
export function createHostCheck(options: SiteGuardOptions): (hostHeader: string, localPort: number | null) => boolean {
  const own = new Set(LOOPBACK_NAMES);
  const bind = bracketed(options.bindHost.toLowerCase());
  if (WILDCARD_BINDS.has(bind)) {
    // Bound to every interface: the machine's name and addresses are its own too.
    own.add(os.hostname().toLowerCase());
    for (const addrs of Object.values(os.networkInterfaces())) {
      for (const a of addrs ?? []) own.add(bracketed(a.address.replace(/%.*$/, '').toLowerCase()));
    }
  } else {
    own.add(bind);
  }
  const anyPort = new Set<string>();
  const exact = new Set<string>();
  for (const entry of options.allowedHosts) {
    const parsed = splitHost(entry);
    if (!parsed) continue;
    if (parsed.port === null) anyPort.add(parsed.name);
    else exact.add(`${parsed.name}:${parsed.port}`);
  }
  return (hostHeader, localPort) => {
    const parsed = splitHost(hostHeader);
    if (!parsed) return false;
    if (anyPort.has(parsed.name) || exact.has(`${parsed.name}:${parsed.port}`)) return true;
    if (!own.has(parsed.name)) return false;
    return parsed.port === null || localPort === null || parsed.port === localPort;
  };
}

/** The Host a request names (header first; the URL's host when a test builds the request without one). */
export function requestHost(c: Context): string {
  return c.req.header('host') ?? new URL(c.req.url).host;
}

/** Refuses, on every route, a request whose Host is not one of this runtime's names. */
export function hostGuard(options: SiteGuardOptions, onRefused?: OnRefused): MiddlewareHandler {
  const allowed = createHostCheck(options);
  return async (c, next) => {
    const host = requestHost(c);
    if (!allowed(host, localPortOf(c))) {
      onRefused?.('host', c);
      throw new BtcError(
        'Forbidden',
        `Host "${host.slice(0, 100)}" is not a name of this runtime; add it to http.allowedHosts (BTC_TS_ALLOWED_HOSTS) if you reach it through that name`,
      );
    }
    await next();
  };
}

/**
 * Refuses a state-changing request that a browser says came from another site, token or not:
 * `Sec-Fetch-Site` other than same-origin / none, or an `Origin` (including `null`, a file://
 * page) whose host is not the request's Host. Clients that send neither (curl, the CLI) pass.
 */
export const sameOriginGuard = (onRefused?: OnRefused): MiddlewareHandler => async (c, next) => {
  if (!SAFE_METHODS.has(c.req.method)) {
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      onRefused?.('cross_site', c);
      throw new BtcError('Forbidden', `cross-site request refused (Sec-Fetch-Site: ${site.slice(0, 20)})`);
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && originHost(origin) !== requestHost(c).toLowerCase()) {
      onRefused?.('cross_site', c);
      throw new BtcError('Forbidden', `cross-origin request refused (Origin: ${origin.slice(0, 100)})`);
    }
  }
  await next();
};

/**
 * A duty's input must be sent as `Content-Type: application/json`: a browser cannot send that
 * cross-site without a CORS preflight, which this server never grants.
 */
export const jsonBodyOnly = (onRefused?: OnRefused): MiddlewareHandler => async (c, next) => {
  const type = (c.req.header('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    onRefused?.('content_type', c);
    throw new BtcError(
      'UnsupportedMediaType',
      `send the input as Content-Type: application/json (got ${type ? type.slice(0, 60) : 'none'}); with curl: -H 'content-type: application/json' -d '{}'`,
    );
  }
  await next();
};

/** CSP source for one inline element's exact text. */
function hashSource(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * Headers on every response: a CSP that allows only the page's own inline script and stylesheet
 * (by hash), no framing, no MIME sniffing, no referrer to other sites.
 */
export function securityHeaders(): MiddlewareHandler {
  return secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: [hashSource(REFRESH_SCRIPT)],
      styleSrc: [hashSource(STYLE)],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    xFrameOptions: 'DENY',
    xContentTypeOptions: 'nosniff',
    // Not no-referrer: under it a browser sends `Origin: null` on the page's own form posts, which the same-origin rule refuses.
    referrerPolicy: 'same-origin',
    crossOriginResourcePolicy: 'same-origin',
    crossOriginOpenerPolicy: 'same-origin',
    // Plain HTTP on loopback: HSTS would only confuse a browser that later meets a TLS proxy.
    strictTransportSecurity: false,
  });
}

function originHost(origin: string): string | null {
  if (origin === 'null') return null;
  try {
    return new URL(origin).host.toLowerCase();
  } catch {
    return null;
  }
}

function bracketed(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/** The port the request arrived on (@hono/node-server exposes the socket); null in app.request() tests. */
function localPortOf(c: Context): number | null {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  return incoming?.socket?.localPort ?? null;
}
