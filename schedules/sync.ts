// schedules/sync.ts
// Sync whenever the cache holds data the primary lacks and the primary is up; checked every probe period.

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'sync',
  everySeconds: (config) => config.storage.probe.everySeconds,
  when: (ctx) => {
    const state = ctx.store.state();
    return state.syncPending && state.primary === 'up';
  },
});
