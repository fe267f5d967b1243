// runtime/errors.ts
// The one error type of btc-ts: a closed union of codes and the code → HTTP status table.

/** Every failure the system reports on purpose has one of these codes. */
export type ErrorCode =
  | 'PreconditionFailed' // conditional put lost (412 / 409 ConditionalRequestConflict)
  | 'NotFound' // object or thing absent
  | 'Unavailable' // store or exchange unreachable, timed out, 5xx after retries
  | 'InvalidInput' // bad body, bad CLI argument, bad config
  | 'InvalidKey' // object key rejected by the store
  | 'Unauthorized' // missing or wrong bearer token
  | 'Forbidden' // a request from another site, or for a Host name that is not this runtime's
  | 'UnsupportedMediaType' // a state-changing request whose body is not application/json
  | 'UnknownFunction' // no function of that name
  | 'PayloadTooLarge' // HTTP body over the limit
  | 'Busy' // the function is already running (one in-flight run per name)
  | 'Conflict' // same key, different bytes: never overwritten
  | 'DiskFull' // a local write met ENOSPC / EDQUOT: nothing of it was kept
  | 'IoError' // a local write met EIO / EROFS: the device failed or went read-only
  | 'NotAvailableHere' // a duty this runtime cannot run (a Node-only duty asked of a worker)
  | 'Internal'; // anything else: a bug

export const httpStatusOf: Record<ErrorCode, number> = {
  PreconditionFailed: 412,
  NotFound: 404,
  Unavailable: 503,
  InvalidInput: 400,
  InvalidKey: 400,
  Unauthorized: 401,
  Forbidden: 403,
  UnsupportedMediaType: 415,
  UnknownFunction: 404,
  PayloadTooLarge: 413,
  Busy: 409,
  Conflict: 409,
  DiskFull: 507,
  IoError: 500,
  NotAvailableHere: 501,
  Internal: 500,
};

export class BtcError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable detail (zod issues, the key, …); must never hold secrets. */
  readonly details?: unknown;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BtcError';
    this.code = code;
    this.details = options?.details;
  }
}

export function isBtcError(err: unknown, code?: ErrorCode): err is BtcError {
  return err instanceof BtcError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into a BtcError; unknown errors become Internal. */
export function toBtcError(err: unknown): BtcError {
  if (err instanceof BtcError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new BtcError('Internal', message, { cause: err });
}

/**
 * Rejects with Unavailable when `promise` has not settled within `ms`. The call itself may still
 * land later (callers that care, like the lease, recognise their own late write).
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what = 'call'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new BtcError('Unavailable', `${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
