// runtime/store/s3-put.ts
// A lean SigV4-signed S3 PutObject over a keep-alive agent: the hot path of segment upload, ~10× less CPU than the SDK's middleware stack.

import { createHash, createHmac, type BinaryLike, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import { backoffDelay, retry, type BackoffShape } from '../async.ts';
import { BtcError } from '../errors.ts';
import { CLOCK_SKEW_CODE, isThrottleAnswer, mapS3Failure } from './s3-errors.ts';
import { ServerClock } from './server-clock.ts';
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
/** Full jitter: a wait drawn from [0, min(cap, base × 2^(attempt−1))). */
const RETRY_BACKOFF: BackoffShape = { baseMs: RETRY_BASE_MS, capMs: RETRY_CAP_MS, jitter: [0, 1] };
/**
 * A Retry-After longer than this is waited only this long: MinIO sends a fixed `Retry-After: 60`
 * with every 503 and 429 (cmd/api-response.go writeErrorResponse), a hint rather than a measurement,
 * and a put that slept a minute would outlive every caller's deadline.
 */
const RETRY_AFTER_CAP_MS = 5_000;
// The error table moved to s3-errors.ts; these names stay importable from here.
export { ACCESS_DENIED_CODES, ACCESS_DENIED_HINT, CLOCK_SKEW_CODE, clockSkewError, refusalError, THROTTLE_CODES } from './s3-errors.ts';

/**
 * PUT with a signed `Content-MD5` (the server refuses bytes that do not match, so a completed
 * upload is verified end to end, and nobody on the way can swap the body); answers map to BtcError
 * codes through the same table as the SDK path (s3-errors.ts mapS3Failure): 412 / 409
 * ConditionalRequestConflict → PreconditionFailed, 400 BadDigest → InvalidInput, 404 → NotFound,
 * network / 5xx / 408 / 429 after retries → Unavailable. A throttled answer (503 SlowDown,
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
            if (err instanceof RetryableError && isThrottleAnswer(status, (err.mapped.details as { s3?: string } | undefined)?.s3)) {
              err.retryAfterMs = retryAfterMs(res.headers['retry-after']);
              put.onThrottle?.(err.retryAfterMs ?? 0);
            }
            reject(err);
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`timed out after ${options.requestTimeoutMs} ms`)));
      req.on('error', (err) => reject(new RetryableError(mapS3Failure({ status: undefined, code: undefined, key, cause: err, reason: (err as NodeJS.ErrnoException).code ?? err.message }).error)));
      req.end(body);
    });
  };

  return async (key, body, put) => {
    let skewRetried = false;
    try {
      return await retry(
        async () => {
          try {
            return await once(key, body, put);
          } catch (err) {
            // The refusal's Date header has corrected serverClock already: one more try at the right time, not counted as an attempt.
            if (!isBtcErrorWithS3(err, CLOCK_SKEW_CODE) || skewRetried) throw err;
            skewRetried = true;
            return await once(key, body, put);
          }
        },
        {
          attempts: options.maxAttempts,
          retryIf: (err) => err instanceof RetryableError,
          delayMs: (attempt, err) => Math.max(backoffDelay(attempt, RETRY_BACKOFF), (err as RetryableError).retryAfterMs ?? 0),
        },
      );
    } catch (err) {
      if (!(err instanceof RetryableError)) throw err;
      const last = err.mapped;
      throw new BtcError(last.code, last.message, { cause: last.cause, details: { ...(last.details as object), ...(err.retryAfterMs !== undefined ? { retryAfterMs: err.retryAfterMs } : {}) } });
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

/** A failure another attempt may cure (mapS3Failure said `retryable`), carrying its mapped BtcError. */
class RetryableError extends Error {
  /** The server's Retry-After (ms) on a throttled answer. */
  retryAfterMs?: number;
  constructor(readonly mapped: BtcError) {
    super(mapped.message, { cause: mapped.cause });
  }
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

/** A non-2xx answer to the PUT, through the one S3 error map; retryable ones wrapped for the retry loop. */
function errorOf(status: number, xml: string, key: string, serverClock: ServerClock): Error {
  const code = /<Code>([^<]+)<\/Code>/.exec(xml)?.[1];
  const { error, retryable } = mapS3Failure({ status, code, key, skewMs: code === CLOCK_SKEW_CODE ? -serverClock.offsetMs : undefined });
  return retryable ? new RetryableError(error) : error;
}

/** RFC 3986 encoding of one path segment, as SigV4 wants it (S3: encoded once). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
