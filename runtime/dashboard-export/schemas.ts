// runtime/dashboard-export/schemas.ts
// zod schemas of the export's own documents (manifest, heartbeat, automation log), shared by export and verify.

import { z } from 'zod';
import { DATASETS } from './keys.ts';

export const manifestDatasetSchema = z.looseObject({
  name: z.enum(DATASETS),
  key: z.string(),
  rows: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  checksum_sha256: z.string().regex(/^[0-9a-f]{64}$/),
  generated_at: z.string(),
  job_id: z.string(),
});
export type ManifestDataset = z.infer<typeof manifestDatasetSchema>;

export const manifestSchema = z.looseObject({
  version: z.literal(1),
  sequence: z.number().int().positive(),
  generated_at: z.string(),
  job_id: z.string(),
  host: z.string(),
  datasets: z.array(manifestDatasetSchema),
});
export type Manifest = z.infer<typeof manifestSchema>;

export const datasetErrorSchema = z.object({ dataset: z.string(), message: z.string() });
export type DatasetError = z.infer<typeof datasetErrorSchema>;

export const heartbeatSchema = z.looseObject({
  version: z.literal(1),
  updated_at: z.string(),
  job_id: z.string(),
  host: z.string(),
  status: z.enum(['ok', 'error']),
  last_success_at: z.string().nullable(),
  datasets: z.record(
    z.string(),
    z.looseObject({ status: z.enum(['ok', 'error']), last_success_at: z.string().nullable(), last_error: z.string().nullable() }),
  ),
  last_failure: z
    .looseObject({ at: z.string(), job_id: z.string(), error_code: z.string().nullable(), errors: z.array(datasetErrorSchema) })
    .nullable(),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;

export const AUTOMATION_STATUSES = ['ok', 'error', 'warning', 'dry_run'] as const;

/** One automation log line; the whole serialised line must stay under 4 KB. */
export const automationEntrySchema = z.strictObject({
  sequence: z.number().int().positive(),
  job_name: z.string().min(1),
  job_id: z.string().min(1),
  host: z.string().min(1),
  status: z.enum(AUTOMATION_STATUSES),
  at: z.string(),
  duration_ms: z.number().nonnegative().nullable(),
  diagnostics: z.looseObject({
    error_code: z.string().nullable().optional(),
    /** Sequence numbers found missing (status="warning" entries). */
    missing: z.array(z.number().int().positive()).optional(),
  }),
});
export type AutomationEntry = z.infer<typeof automationEntrySchema>;
export const AUTOMATION_LINE_MAX_BYTES = 4096;

export const automationSequenceSchema = z.looseObject({
  last: z.number().int().nonnegative(),
  /** Missing numbers already reported by a warning entry (not reported twice). */
  acknowledged_missing: z.array(z.number().int().positive()),
});
