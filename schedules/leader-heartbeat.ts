// schedules/leader-heartbeat.ts
// Beat the collector lease every lease.heartbeatSeconds (BTC_TS_HEARTBEAT_SECONDS); a DEBUG runtime never bids for it.

import { holdsLease } from '../runtime/lease.ts';
import { holdsAnyShard } from '../runtime/leader/shard-state.ts';
import { defineSchedule } from '../runtime/registry.ts';

export default defineSchedule({
  fn: 'leader-heartbeat',
  everySeconds: (config) => config.lease.heartbeatSeconds,
  // DEBUG means "no collection writes until preflight passes": such a runtime must not hold the
  // lease the other PC could use, but a holder keeps renewing whatever its mode (also while it
  // has paused collecting after a suspend, until a renew tells whether the lease is still its own).
  when: (ctx) => holdsLease(ctx) || holdsAnyShard(ctx.local) || ctx.mode.get() !== 'DEBUG',
});
