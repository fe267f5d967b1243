// functions/dashboard-verify.ts
// The nightly chain check (automation log, heartbeat, manifest checksums and sequence), logged to the automation log.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { runScheduledVerify } from '../runtime/dashboard-export/verify-run.ts';

export default defineFunction({
  name: 'dashboard-verify',
  description:
    'Verify the dashboard chain on the primary (automation log gap-free, heartbeat not older than one export period plus grace, manifest checksums, sequence never gone back) and append the run to the automation log as job dashboard-verify.',
  input: z.object({}).strict(),
  output: z.looseObject({
    status: z.enum(['ok', 'failed']),
    failures: z.array(z.looseObject({ check: z.string(), code: z.string(), message: z.string() })),
    automation_log: z.object({ sequence: z.number() }).nullable(),
  }),
  async run(_input, ctx) {
    return runScheduledVerify(ctx);
  },
});
