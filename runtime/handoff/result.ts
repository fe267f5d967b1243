// runtime/handoff/result.ts
// What the handoff duty answers: the zip plus its JSON summary, shared by the duty, `runtime handoff` and the bench.

import { z } from 'zod';
import type { BinaryResult } from '../http/app.ts';

/** Content type of the bundle, on its store object and on an HTTP answer with `Accept: application/zip`. */
export const ZIP_CONTENT_TYPE = 'application/zip';

/**
 * `{ key, bytes, sha256, files, restore_point, session }`: the store key under `handoff/`, the
 * zip's size in bytes and SHA-256 (hex), the paths inside it, the restore point tag cut before
 * bundling (null: none), the session recorded in `handover.bundle.create`.
 */
export const handoffSummary = z.object({
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  files: z.array(z.string()),
  restore_point: z.string().nullable(),
  session: z.string(),
});
export type HandoffSummary = z.infer<typeof handoffSummary>;

/** The zip plus its JSON summary; JSON.stringify (CLI, logs) shows only the summary. */
export interface HandoffResult extends BinaryResult {
  json: HandoffSummary;
}

/** A zip (Buffer, ZIP_CONTENT_TYPE) with a summary that parses: the duty's output check. */
export function isHandoffResult(v: unknown): v is HandoffResult {
  const r = v as HandoffResult;
  return typeof v === 'object' && v !== null && Buffer.isBuffer(r.bytes) && r.contentType === ZIP_CONTENT_TYPE && handoffSummary.safeParse(r.json).success;
}
