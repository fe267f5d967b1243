// schedules/dashboard-export.ts
// Dashboard export every dashboard.everySeconds (6 h by default), first after two lease periods, on the collector (or when no leader is known).

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'dashboard-export',
  everySeconds: (config) => config.dashboard.everySeconds,
  // Not at the very start, when no runtime knows the leader yet and every one would export: after
  // two lease periods the lease is held (even one taken over from a dead holder) and known to all.
  startDelaySeconds: (config) => 2 * config.lease.leaseSeconds,
  // One PC exporting is enough; both doing it is still safe (the manifest sequence is a conditional put).
  when: (ctx) => ctx.lease.holder || ctx.lease.leaderHost === null,
});
