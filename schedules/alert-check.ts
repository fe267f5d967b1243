// schedules/alert-check.ts
// Check the alert rules every alerts.everySeconds (30 s by default) on every host; cluster rules run only on the lease holder (inside the duty).

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'alert-check',
  everySeconds: (config) => config.alerts.everySeconds,
});
