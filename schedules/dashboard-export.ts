// schedules/dashboard-export.ts
// Dashboard export every dashboard.everySeconds (6 h by default), on the collector (or when no leader is known).

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'dashboard-export',
  everySeconds: (config) => config.dashboard.everySeconds,
  // One PC exporting is enough; both doing it is still safe (the manifest sequence is a conditional put).
  when: (ctx) => ctx.lease.holder || ctx.lease.leaderHost === null,
});
