// schedules/handoff.ts
// The daily handoff at the end of the day (seed ch. 27: 毎日の作業終了時), 23:55 local time.

import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'handoff',
  cron: '0 55 23 * * *',
  input: {},
});
