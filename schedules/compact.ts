// schedules/compact.ts
// Compaction and retention every compaction.everySeconds (daily by default) on the lease holder, first ten minutes after start.

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'compact',
  everySeconds: (config) => config.compaction.everySeconds,
  startDelaySeconds: 600,
  input: {},
  when: (ctx) => ctx.lease.holder,
});
