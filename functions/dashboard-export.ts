// functions/dashboard-export.ts
// Exports the dashboard datasets (latency, turnover, slippage, ev_history) with manifest, heartbeat and history.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { runDashboardExport } from '../runtime/dashboard-export/export.ts';
import { DATASETS, JOB_ID_PATTERN } from '../runtime/dashboard-export/keys.ts';

export default defineFunction({
  name: 'dashboard-export',
  description:
    'Compute the dashboard datasets from raw/ and the state archive (incrementally), commit dashboard/manifest.json with the next sequence, update the heartbeat, keep a history copy, prune history older than dashboard.historyWeeks and append to the automation log.',
  input: z
    .object({
      /** Limit the run to these datasets; the manifest keeps the others as they were. */
      datasets: z.array(z.enum(DATASETS)).optional().describe('limit the run to these datasets (default all); the manifest keeps the others'),
      job_id: z.string().regex(JOB_ID_PATTERN).optional().describe('job id (default <UTC time>-<host>); names dashboard/history/<job_id>/'),
      /** Run the configured upload command (dashboard.uploadCommand) after a successful export. */
      upload: z.boolean().default(true).describe('run the configured upload command (dashboard.uploadCommand) after a successful export'),
    })
    .strict(),
  output: z.looseObject({
    status: z.enum(['ok', 'error']),
    error_code: z.string().nullable(),
    job_id: z.string(),
    sequence: z.number().nullable(),
    datasets: z.array(z.looseObject({ name: z.string(), status: z.enum(['ok', 'error']) })),
    errors: z.array(z.object({ dataset: z.string(), message: z.string() })),
  }),
  async run(input, ctx) {
    // The command comes from config/env only: HTTP input can switch it off, never supply one.
    const { uploadCommand, uploadTimeoutSeconds, historyWeeks } = ctx.config.dashboard;
    return runDashboardExport(ctx, {
      datasets: input.datasets,
      jobId: input.job_id,
      uploadCommand: input.upload ? uploadCommand : null,
      uploadTimeoutMs: uploadTimeoutSeconds * 1000,
      historyWeeks,
    });
  },
});
