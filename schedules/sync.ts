// schedules/sync.ts
// Sync whenever the cache holds data the primary lacks and the primary is up; checked every probe period.

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'sync',
  everySeconds: (config) => config.storage.probe.everySeconds,
  when: (ctx) => {
    const state = ctx.store.state();
    // A primary without conditional writes is out of use for segments: the backlog waits in the cache, where create-only holds.
    return state.syncPending && state.primary === 'up' && !state.conditionalWrites.startsWith('missing');
  },
});
