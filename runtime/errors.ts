// runtime/errors.ts
// The one error type of btc-ts: a closed union of codes and one code → HTTP status / error name / CLI exit code table.

/** How one code is reported: HTTP status, the HTTP body's `error` name (CONTRACT), the CLI exit code. */
export interface ErrorCodeSpec {
  /** The HTTP status of an answer that failed with this code. */
  status: number;
  /** The snake_case `error` of the HTTP JSON body. */
  name: string;
  /** The exit code of a CLI command that failed with this code: 2 bad usage or input, 1 anything else. */
  exit: 1 | 2;
}

/**
 * Every failure the system reports on purpose has one of these codes; this is the one table of
 * them (runtime/http/errors.ts, runtime/cli/main.ts and the dashboard read it).
 */
export const ERROR_CODES = {
  PreconditionFailed: { status: 412, name: 'precondition_failed', exit: 1 }, // conditional put lost (412 / 409 ConditionalRequestConflict)
  NotFound: { status: 404, name: 'not_found', exit: 1 }, // object or thing absent
  Unavailable: { status: 503, name: 'unavailable', exit: 1 }, // store or exchange unreachable, timed out, 5xx after retries
  InvalidInput: { status: 400, name: 'invalid_input', exit: 2 }, // bad body, bad CLI argument, bad config
  InvalidKey: { status: 400, name: 'invalid_key', exit: 2 }, // object key rejected by the store
  Unauthorized: { status: 401, name: 'unauthorized', exit: 1 }, // missing or wrong bearer token
  Forbidden: { status: 403, name: 'forbidden', exit: 1 }, // a request from another site, or for a Host name that is not this runtime's
  UnsupportedMediaType: { status: 415, name: 'unsupported_media_type', exit: 1 }, // a state-changing request whose body is not application/json
  UnknownFunction: { status: 404, name: 'unknown_function', exit: 2 }, // no function of that name
  PayloadTooLarge: { status: 413, name: 'payload_too_large', exit: 1 }, // HTTP body over the limit
  Busy: { status: 409, name: 'busy', exit: 1 }, // the function is already running (one in-flight run per name)
  Conflict: { status: 409, name: 'conflict', exit: 1 }, // same key, different bytes: never overwritten
  DiskFull: { status: 507, name: 'disk_full', exit: 1 }, // a local write met ENOSPC / EDQUOT: nothing of it was kept
  IoError: { status: 500, name: 'io_error', exit: 1 }, // a local write met EIO / EROFS: the device failed or went read-only
  NotAvailableHere: { status: 501, name: 'not_available_here', exit: 1 }, // a duty this runtime cannot run (a Node-only duty asked of a worker)
  Internal: { status: 500, name: 'internal_error', exit: 1 }, // anything else: a bug
} as const satisfies Record<string, ErrorCodeSpec>;

/** The closed union of codes: the keys of ERROR_CODES. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Every code, in the table's order. */
export const ERROR_CODE_LIST = Object.keys(ERROR_CODES) as ErrorCode[];

/** Code → HTTP status (ERROR_CODES[code].status). */
export const httpStatusOf = Object.fromEntries(ERROR_CODE_LIST.map((code) => [code, ERROR_CODES[code].status])) as { readonly [C in ErrorCode]: (typeof ERROR_CODES)[C]['status'] };

/** The exit code of a CLI command that failed with `err`: the table's for a BtcError, 1 for anything else. */
export function exitCodeOf(err: unknown): 1 | 2 {
  return err instanceof BtcError ? ERROR_CODES[err.code].exit : 1;
}

/** The code whose HTTP body `error` name (ERROR_CODES[code].name) is `name`; undefined for any other value. */
export function errorCodeOfName(name: unknown): ErrorCode | undefined {
  return ERROR_CODE_LIST.find((code) => ERROR_CODES[code].name === name);
}

/**
 * The exit code of a CLI command whose duty ran on a runtime over HTTP and failed: the table's exit
 * code of the body's `error` name, so one code exits the same whether the duty ran in this process
 * (exitCodeOf) or remotely. A body without a known name (an older runtime, a stranger) falls back
 * on the status: 400 is bad input (2), anything else 1.
 */
export function exitCodeOfAnswer(status: number, body: unknown): 1 | 2 {
  const code = errorCodeOfName(typeof body === 'object' && body !== null ? (body as { error?: unknown }).error : undefined);
  return code ? ERROR_CODES[code].exit : status === 400 ? 2 : 1;
}

/**
 * The message an answer to someone else (an HTTP client, the dashboard) may show: an Internal
 * error's text stays in the log (`internal error; see the <where> log`), any other code's message
 * is shown through `mask` (the secret masker).
 */
export function publicMessage(err: BtcError, where: 'runtime' | 'worker', mask: (text: string) => string = (text) => text): string {
  return err.code === 'Internal' ? `internal error; see the ${where} log` : mask(err.message);
}

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
