// schedules/storage-probe.ts
// Probe the primary every storage.probe.everySeconds (5 s by default).

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'storage-probe',
  everySeconds: (config) => config.storage.probe.everySeconds,
});
