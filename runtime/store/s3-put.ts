// runtime/store/s3-put.ts
// A lean SigV4-signed S3 PutObject over a keep-alive agent: the hot path of segment upload, ~10× less CPU than the SDK's middleware stack.

import { createHash, createHmac, type BinaryLike, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import { BtcError } from '../errors.ts';
import { describeClockSkew, ServerClock } from './server-clock.ts';
import type { PutOptions, PutResult } from './types.ts';

export interface SignedPutOptions {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Session token of temporary credentials (STS; `x-amz-security-token`), secret like the key. */
  sessionToken?: string;
  /** Socket idle timeout per request (ms). */
  requestTimeoutMs: number;
  /** Attempts per put; only network errors, 5xx, 429 and 408 are retried, with jittered backoff. */
  maxAttempts: number;
  /** Keep-alive sockets to the endpoint. */
  maxSockets: number;
  /** The offset to the server's clock, shared with the SDK client of the same store (a new one when absent). */
  serverClock?: ServerClock;
}

export type SignedPut = (key: string, body: Buffer, options: PutOptions & { contentType: string }) => Promise<PutResult>;

const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 2_000;
/**
 * A Retry-After longer than this is waited only this long: MinIO sends a fixed `Retry-After: 60`
 * with every 503 and 429 (cmd/api-response.go writeErrorResponse), a hint rather than a measurement,
 * and a put that slept a minute would outlive every caller's deadline.
 */
const RETRY_AFTER_CAP_MS = 5_000;
/** S3's answer to a signature time more than 15 minutes from its own (AWS S3 API reference, "Error codes"). */
export const CLOCK_SKEW_CODE = 'RequestTimeTooSkewed';

/**
 * PUT with a signed `Content-MD5` (the server refuses bytes that do not match, so a completed
 * upload is verified end to end, and nobody on the way can swap the body); conditional headers map to the same
 * BtcError codes as the SDK path: 412 / 409 ConditionalRequestConflict → PreconditionFailed,
 * 404 → NotFound, network / 5xx after retries → Unavailable. A throttled answer (503 SlowDown,
 * 429) is retried after its `Retry-After` (seconds, or an HTTP date) when that is longer than the
 * backoff; each one is told to `put.onThrottle(retryAfterMs)`, and the last one's code and wait
 * travel in the Unavailable error's details (`s3: 'SlowDown'`, `retryAfterMs`).
 *
 * Signed by `@smithy/signature-v4` (the SDK's own signer) at the server's time: every answer's
 * `Date` header feeds `serverClock`, and a `403 RequestTimeTooSkewed` is retried once at the
 * corrected time. A second skew refusal is a BtcError with `details.s3 = "RequestTimeTooSkewed"`.
 */
export function createSignedPut(options: SignedPutOptions): SignedPut {
  const url = new URL(options.endpoint);
  const transport = url.protocol === 'https:' ? https : http;
  const agent = new transport.Agent({ keepAlive: true, maxSockets: options.maxSockets });
  const basePath = url.pathname.replace(/\/$/, '');
  const serverClock = options.serverClock ?? new ServerClock();
  const signer = new SignatureV4({
    service: 's3',
    region: options.region,
    credentials: { accessKeyId: options.accessKeyId, secretAccessKey: options.secretAccessKey, sessionToken: options.sessionToken },
    sha256: NodeSha256,
    // S3 wants the path encoded once (we encode each segment), not twice like other services.
    uriEscapePath: false,
    // The body's integrity rides on the signed Content-MD5 (the server rejects a mismatch), so the
    // payload need not be hashed a second time with SHA-256 on both ends.
    applyChecksum: false,
  });

  const once = async (key: string, body: Buffer, put: PutOptions & { contentType: string }): Promise<PutResult> => {
    const uri = `${basePath}/${encodeSegment(options.bucket)}/${key.split('/').map(encodeSegment).join('/')}`;
    const headers: Record<string, string> = {
      'content-md5': put.md5 ? Buffer.from(put.md5, 'hex').toString('base64') : createHash('md5').update(body).digest('base64'),
      'content-type': put.contentType,
      host: url.host,
      'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    };
    if (put.ifNoneMatch) headers['if-none-match'] = put.ifNoneMatch;
    if (put.ifMatch !== undefined) headers['if-match'] = put.ifMatch.startsWith('"') ? put.ifMatch : `"${put.ifMatch}"`;
    const signed = await signer.sign(
      { method: 'PUT', protocol: url.protocol, hostname: url.hostname, port: url.port ? Number(url.port) : undefined, path: uri, query: {}, headers },
      { signingDate: new Date(serverClock.now()) },
    );
    const sentAt = Date.now();
    return new Promise<PutResult>((resolve, reject) => {
      const req = transport.request(
        {
          method: 'PUT',
          hostname: url.hostname,
          port: url.port || undefined,
          path: uri,
          agent,
          timeout: options.requestTimeoutMs,
          headers: { ...signed.headers, 'content-length': String(body.length) },
        },
        (res) => {
          serverClock.observeDateHeader(res.headers.date, sentAt, Date.now());
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) {
              resolve({ key, etag: String(res.headers.etag ?? '').replace(/^"|"$/g, '') });
              return;
            }
            const err = errorOf(status, Buffer.concat(chunks).toString('utf8'), key, serverClock);
            if (err instanceof RetryableError && isThrottleAnswer(status, err.s3)) {
              err.retryAfterMs = retryAfterMs(res.headers['retry-after']);
              put.onThrottle?.(err.retryAfterMs ?? 0);
            }
            reject(err);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${options.requestTimeoutMs} ms`)));
      req.on('error', (err) => reject(new RetryableError(`store unreachable (${(err as NodeJS.ErrnoException).code ?? err.message}) at ${key}`, err)));
      req.end(body);
    });
  };

  return async (key, body, put) => {
    let skewRetried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await once(key, body, put);
      } catch (err) {
        // The refusal's Date header has corrected serverClock already: one more try at the right time.
        if (isBtcErrorWithS3(err, CLOCK_SKEW_CODE) && !skewRetried) {
          skewRetried = true;
          attempt--;
          continue;
        }
        if (!(err instanceof RetryableError)) throw err;
        if (attempt >= options.maxAttempts) {
          throw new BtcError('Unavailable', err.message, { cause: err.cause, details: { key, ...(err.s3 ? { s3: err.s3 } : {}), ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) } });
        }
        const backoff = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** (attempt - 1)) * Math.random();
        const delay = Math.max(backoff, err.retryAfterMs ?? 0);
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  };
}

/** The `sha256` constructor SignatureV4 wants (hash, or HMAC when given a key), on node:crypto. */
export class NodeSha256 {
  private readonly hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', binary(secret));
  }
  update(data: SourceData): void {
    this.hash.update(binary(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

/** `@smithy/types` SourceData: what the signer hands its hash. */
type SourceData = string | ArrayBuffer | ArrayBufferView;

function binary(data: SourceData): BinaryLike {
  if (typeof data === 'string') return data;
  return data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function isBtcErrorWithS3(err: unknown, code: string): boolean {
  return err instanceof BtcError && (err.details as { s3?: unknown } | undefined)?.s3 === code;
}

class RetryableError extends Error {
  /** The server's Retry-After (ms) on a throttled answer. */
  retryAfterMs?: number;
  constructor(message: string, cause?: unknown, readonly s3?: string) {
    super(message, { cause });
  }
}

/** S3 codes that mean "busy, slow down" (MinIO: 503 SlowDown / SlowDownWrite / SlowDownRead, 429 TooManyRequests; AWS: 503 SlowDown). */
export const THROTTLE_CODES: ReadonlySet<string> = new Set(['SlowDown', 'SlowDownWrite', 'SlowDownRead', 'TooManyRequests', 'RequestLimitExceeded', 'Throttling']);

/** A throttle, not an outage: only these honour Retry-After (a 503 from a MinIO still starting is retried on the usual backoff). */
function isThrottleAnswer(status: number, code: string | undefined): boolean {
  return status === 429 || (code !== undefined && THROTTLE_CODES.has(code));
}

/**
 * `Retry-After` in ms (RFC 9110 §10.2.3: delay-seconds or an HTTP date), capped at
 * RETRY_AFTER_CAP_MS; undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const ms = /^\s*\d+\s*$/.test(value) ? Number(value) * 1000 : Date.parse(value) - now;
  return Number.isFinite(ms) ? Math.min(RETRY_AFTER_CAP_MS, Math.max(0, ms)) : undefined;
}

function errorOf(status: number, xml: string, key: string, serverClock: ServerClock): Error {
  const code = /<Code>([^<]+)<\/Code>/.exec(xml)?.[1];
  if (code === CLOCK_SKEW_CODE) return clockSkewError(status, key, -serverClock.offsetMs);
  const details = { key, status, s3: code };
  if (status === 412 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') {
    return new BtcError('PreconditionFailed', `precondition failed at ${key}`, { details });
  }
  if (code === 'BadDigest' || code === 'InvalidDigest') return new BtcError('InvalidInput', `body does not match its MD5 at ${key}`, { details });
  if (status === 404 && code === 'NoSuchBucket') return new BtcError('Unavailable', `bucket missing (${key}): create it with node bin/tsnode.mjs infra/minio/bootstrap.ts`, { details });
  if (status === 404) return new BtcError('NotFound', `no object at ${key}`, { details });
  if (status >= 500 || status === 429 || status === 408) return new RetryableError(`store unreachable (S3 ${status}${code ? ` ${code}` : ''}) at ${key}`, undefined, code ?? (status === 429 ? 'TooManyRequests' : undefined));
  return refusalError(status, code, key);
}

/** S3 codes that mean "these credentials may not do this": the operator's fix is the key pair. */
export const ACCESS_DENIED_CODES: ReadonlySet<string> = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken']);
export const ACCESS_DENIED_HINT = 'access denied: check BTC_TS_S3_ACCESS_KEY / BTC_TS_S3_SECRET_KEY';

/**
 * A non-network refusal by the store (4xx other than 404/408/409/412/429) as a BtcError whose
 * `details.s3` is the S3 error code, the status cause the page and `runtime status` show. A 403
 * (or one of ACCESS_DENIED_CODES) says which keys to check; HEAD answers 403 without a body, so
 * its code is AccessDenied.
 */
export function refusalError(status: number | undefined, code: string | undefined, key: string, cause?: unknown): BtcError {
  // S3 answers a skewed signature time with 403 too, but the fix is the clock, not the keys.
  if (code === CLOCK_SKEW_CODE) return clockSkewError(status, key, undefined, cause);
  const denied = status === 403 || (code !== undefined && ACCESS_DENIED_CODES.has(code));
  const s3 = denied && (code === undefined || !ACCESS_DENIED_CODES.has(code)) ? 'AccessDenied' : code;
  const where = `S3 ${status ?? '?'} ${s3 ?? ''} at ${key}`.replace(/ {2}/, ' ');
  const message = denied ? `${ACCESS_DENIED_HINT} (${where})` : where;
  return new BtcError('Internal', message, { cause, details: { key, status, s3 } });
}

/**
 * The refusal of a request whose signature time was more than 15 minutes off even after the
 * correction (or before any answer gave one): cause `RequestTimeTooSkewed`, never "access denied"
 * or "primary down". `skewMs` = this PC − server (positive: ahead), in the message when known.
 */
export function clockSkewError(status: number | undefined, key: string, skewMs?: number, cause?: unknown): BtcError {
  const how = skewMs === undefined ? "this PC's clock is too far from the store's" : describeClockSkew(skewMs);
  return new BtcError('Internal', `${how}: fix the time sync (NTP) on this PC or the NAS (S3 ${status ?? '?'} ${CLOCK_SKEW_CODE} at ${key})`, {
    cause,
    details: { key, status, s3: CLOCK_SKEW_CODE, clock_skew_ms: skewMs },
  });
}

/** RFC 3986 encoding of one path segment, as SigV4 wants it (S3: encoded once). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
