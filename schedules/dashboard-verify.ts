// schedules/dashboard-verify.ts
// The nightly verify at 03:30 UTC on the lease holder (or when no leader is known), logged to the automation log.

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'dashboard-verify',
  cron: '0 30 3 * * *',
  timezone: 'Etc/UTC',
  when: (ctx) => ctx.lease.holder || ctx.lease.leaderHost === null,
});
