// functions/collect-tick.ts
// Collects every configured stream once (lease holder only, PROD/DIAG only): fetch, normalise, append, ship, latest, status.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';

export default defineFunction({
  name: 'collect-tick',
  description:
    'One collection tick: for each stream (exchange × topic × symbol) fetch through ccxt, stamp {epoch, seq}, append durably, ship segments, replace latest CSV, update status. Lease holder only; PROD or DIAG mode only.',
  input: z.object({}).strict(),
  output: z.object({
    skipped: z.enum(['not_holder', 'debug_mode', 'no_streams']).optional(),
    streams: z.number(),
    ran: z.number(),
    ok: z.number(),
    failed: z.number(),
    records: z.number(),
    shipped: z.number(),
    mode: z.string(),
  }),
  // Loaded on first run: ccxt is heavy, and commands that never collect should not pay for it.
  run: async (_input, ctx) => (await import('../runtime/collector/tick.ts')).collectTick(ctx),
  // transport: ws streams close their sockets (they stop appending as soon as the lease is gone).
  onShutdown: async (ctx) => (await import('../runtime/collector/ws/manager.ts')).stopWsStreams(ctx.local),
});
