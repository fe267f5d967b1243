// runtime/http/errors.ts
// BtcError → HTTP JSON body: the contract's snake_case error names, never a stack or a secret.

import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { httpStatusOf, toBtcError, type ErrorCode } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Masker } from '../secrets.ts';

const errorNames: Record<ErrorCode, string> = {
  PreconditionFailed: 'precondition_failed',
  NotFound: 'not_found',
  Unavailable: 'unavailable',
  InvalidInput: 'invalid_input',
  InvalidKey: 'invalid_key',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  UnsupportedMediaType: 'unsupported_media_type',
  UnknownFunction: 'unknown_function',
  PayloadTooLarge: 'payload_too_large',
  Busy: 'busy',
  Conflict: 'conflict',
  DiskFull: 'disk_full',
  IoError: 'io_error',
  NotAvailableHere: 'not_available_here',
  Internal: 'internal_error',
};

export function errorResponse(c: Context, err: unknown, masker: Masker, log: Logger) {
  const e = toBtcError(err);
  const status = httpStatusOf[e.code] as ContentfulStatusCode;
  if (e.code === 'Internal') {
    log.error({ err: err instanceof Error ? err.stack : String(err), path: c.req.path }, 'internal error');
    return c.json({ ok: false, error: errorNames.Internal, message: 'internal error; see the runtime log' }, 500);
  }
  const body: Record<string, unknown> = { ok: false, error: errorNames[e.code], message: masker.text(e.message) };
  if (e.code === 'InvalidInput' && Array.isArray(e.details)) body.issues = masker.value(e.details);
  return c.json(body, status);
}
