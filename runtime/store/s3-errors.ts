// runtime/store/s3-errors.ts
// The one S3 error map: every S3 answer or network failure (SDK path, lean PUT, fetch store) → a BtcError code.

import { BtcError } from '../errors.ts';
import { describeClockSkew } from './server-clock.ts';

/**
 * S3's answer to a signature time more than 15 minutes from its own: 403 RequestTimeTooSkewed
 * (AWS S3 API reference, "Error responses" → "List of error codes").
 */
export const CLOCK_SKEW_CODE = 'RequestTimeTooSkewed';

/**
 * S3 codes that mean "busy, slow down": AWS 503 SlowDown (S3 API reference, "List of error codes";
 * "Best practices design patterns: optimizing Amazon S3 performance"); MinIO also sends 503
 * SlowDownWrite / SlowDownRead and 429 TooManyRequests (minio cmd/api-errors.go).
 */
export const THROTTLE_CODES: ReadonlySet<string> = new Set(['SlowDown', 'SlowDownWrite', 'SlowDownRead', 'TooManyRequests', 'RequestLimitExceeded', 'Throttling']);

/**
 * S3 codes that mean "these credentials may not do this" (S3 API reference, "List of error codes":
 * 403 AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch, ExpiredToken; 400 InvalidToken):
 * the operator's fix is the key pair.
 */
export const ACCESS_DENIED_CODES: ReadonlySet<string> = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'InvalidToken', 'ExpiredToken']);
export const ACCESS_DENIED_HINT = 'access denied: check BTC_TS_S3_ACCESS_KEY / BTC_TS_S3_SECRET_KEY';

/** One S3 failure as the adapters see it: the HTTP status (absent: no answer) and the S3 error code. */
export interface S3Failure {
  /** HTTP status of the answer; undefined when none came (network error, timeout). */
  status: number | undefined;
  /** The `<Code>` of the S3 error body (SDK: the exception's name); undefined when none. */
  code: string | undefined;
  /** The key (or list prefix) of the call, for the message and details. */
  key: string;
  /** The original error (SDK exception, socket error), kept as the BtcError's cause. */
  cause?: unknown;
  /** Why no answer came (`ECONNREFUSED`, `timed out after 10000 ms`, …), for the message. */
  reason?: string;
  /** This PC − server (ms), when known: in a clock-skew error's message. */
  skewMs?: number;
}

/** The mapped failure; `retryable`: another attempt may succeed (network, 5xx, 408, 429). */
export interface S3ErrorMapping {
  error: BtcError;
  retryable: boolean;
}

/**
 * The one table from an S3 answer to a BtcError code, used by the SDK path (s3.ts mapError), the
 * lean PUT (s3-put.ts) and the fetch store (worker/s3-fetch.ts). Rows, first match wins:
 *
 * | S3 answer | BtcError | source |
 * |---|---|---|
 * | 403 `RequestTimeTooSkewed` | Internal, `details.s3 = RequestTimeTooSkewed` (fix the clock) | S3 API reference, "List of error codes" |
 * | 412 / `PreconditionFailed` | PreconditionFailed (lost race) | S3 API reference, PutObject "If-None-Match" / "If-Match"; "Conditional requests" |
 * | 409 `ConditionalRequestConflict` | PreconditionFailed (a concurrent conditional write won) | S3 API reference, PutObject; "Conditional writes" |
 * | 400 `BadDigest` / `InvalidDigest` | InvalidInput (body ≠ its Content-MD5; nothing stored) | S3 API reference, "List of error codes" |
 * | 404 `NoSuchBucket` | Unavailable (create the bucket) | S3 API reference, "List of error codes" |
 * | 404 / `NoSuchKey` / `NotFound` (HEAD has no body) | NotFound | S3 API reference, GetObject / HeadObject |
 * | 5xx, 408, 429, throttle codes (`SlowDown`, …) | Unavailable, retryable; `details.s3` names a throttle | S3 API reference, "List of error codes" (500 InternalError, 503 SlowDown / ServiceUnavailable) |
 * | other 4xx (`AccessDenied` 403, `MaxVersionsExceeded`, …) | Internal refusal, `details.s3` = the code (refusalError) | S3 API reference, "List of error codes" |
 * | no answer (socket error, timeout) | Unavailable, retryable | — |
 */
export function mapS3Failure(f: S3Failure): S3ErrorMapping {
  const { status, code, key, cause } = f;
  const details = { key, status, s3: code };
  if (code === CLOCK_SKEW_CODE) return { error: clockSkewError(status, key, f.skewMs, cause), retryable: false };
  if (status === 412 || code === 'PreconditionFailed' || code === 'ConditionalRequestConflict') {
    return { error: new BtcError('PreconditionFailed', `precondition failed at ${key}`, { cause, details }), retryable: false };
  }
  if (code === 'BadDigest' || code === 'InvalidDigest') {
    return { error: new BtcError('InvalidInput', `body does not match its MD5 at ${key}`, { cause, details }), retryable: false };
  }
  if (code === 'NoSuchBucket') {
    return { error: new BtcError('Unavailable', `bucket missing (${key}): create it with node bin/tsnode.mjs infra/minio/bootstrap.ts`, { cause, details }), retryable: false };
  }
  if (status === 404 || code === 'NoSuchKey' || code === 'NotFound') {
    return { error: new BtcError('NotFound', `no object at ${key}`, { cause, details }), retryable: false };
  }
  if (status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429) {
    return { error: refusalError(status, code, key, cause), retryable: false };
  }
  const s3 = code ?? (status === 429 ? 'TooManyRequests' : undefined);
  const why = status !== undefined ? `S3 ${status}${s3 ? ` ${s3}` : ''}` : (f.reason ?? code ?? 'network error');
  return { error: new BtcError('Unavailable', `store unreachable (${why}) at ${key}`, { cause, details: { key, status, s3 } }), retryable: true };
}

/** An answer throttled the caller (429, or a THROTTLE_CODES code): honour its Retry-After. */
export function isThrottleAnswer(status: number | undefined, code: string | undefined): boolean {
  return status === 429 || (code !== undefined && THROTTLE_CODES.has(code));
}

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
