// schedules/data-quality.ts
// The data-quality check of yesterday, daily at 00:20 UTC, on the lease holder (one report per day, not one per PC).

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'data-quality',
  // Twenty minutes after midnight: the last segments and audit events of the day have shipped.
  cron: '0 20 0 * * *',
  timezone: 'Etc/UTC',
  input: {},
  when: (ctx) => ctx.lease.holder || ctx.lease.leaderHost === null,
});
