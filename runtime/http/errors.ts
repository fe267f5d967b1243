// runtime/http/errors.ts
// BtcError → HTTP JSON body: the contract's snake_case error names, never a stack or a secret.

import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ERROR_CODES, publicMessage, toBtcError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Masker } from '../secrets.ts';

export function errorResponse(c: Context, err: unknown, masker: Masker, log: Logger) {
  const e = toBtcError(err);
  const { status, name } = ERROR_CODES[e.code];
  if (e.code === 'Internal') log.error({ err: err instanceof Error ? err.stack : String(err), path: c.req.path }, 'internal error');
  const body: Record<string, unknown> = { ok: false, error: name, message: publicMessage(e, 'runtime', (text) => masker.text(text)) };
  if (e.code === 'InvalidInput' && Array.isArray(e.details)) body.issues = masker.value(e.details);
  return c.json(body, status as ContentfulStatusCode);
}
