// functions/storage-probe.ts
// Probes the primary, switches the router with hysteresis, writes storage state (and the data directory's free space) into this host's status.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { evaluateDiag } from '../runtime/diag-reasons.ts';

export default defineFunction({
  name: 'storage-probe',
  description: 'Probe the primary (put/get/delete health/probe-<host>); switch writes to the cache when it is down and back after N good probes.',
  input: z.object({}).strict(),
  output: z.object({
    ok: z.boolean(),
    latency_ms: z.number(),
    error: z.string().optional(),
    primary: z.enum(['up', 'down']),
    secondary: z.enum(['used', 'idle']),
    switched: z.enum(['primary', 'secondary']).nullable(),
    good_probes: z.number(),
    bad_probes: z.number(),
    sync_pending: z.boolean(),
    disk_free_bytes: z.number().nullable().describe('free bytes of the data directory (null: unknown)'),
    disk_low: z.boolean().describe('disk_free_bytes is under storage.diskFreeWarnBytes'),
  }),
  async run(_input, ctx) {
    const probe = await ctx.store.probePrimary(ctx.clock.now());
    const change = ctx.store.recordProbe(probe, ctx.clock.now());
    // Back on the primary with data in the cache: sync has work to do.
    if (change?.to === 'primary') ctx.store.setSyncPending(true);
    const state = ctx.store.state();
    // The status write below stamps this reading (disk_free_bytes), so it is as fresh as the probe.
    const disk = (await ctx.disk?.read()) ?? null;
    await ctx.status.update((doc) => {
      doc.storage.primary = state.primary;
      doc.storage.secondary = state.secondary;
      doc.storage.cause = state.cause;
      doc.sync.pending = state.syncPending;
    }).catch(() => undefined); // the status writer logs its own failure (a full disk); the probe's answer stands
    // A NAS outage longer than diag.nasOutageSeconds, a failed sync, a lost lease: DIAG, lifted by itself.
    // Never at the probe's expense: its result and the router state above stand whatever this does.
    await evaluateDiag(ctx).catch((err) => ctx.log.warn({ err: ctx.masker.text(String(err)) }, 'DIAG reasons not evaluated'));
    return {
      ok: probe.ok,
      latency_ms: probe.latencyMs,
      ...(probe.error ? { error: ctx.masker.text(probe.error) } : {}),
      primary: state.primary,
      secondary: state.secondary,
      switched: change?.to ?? null,
      good_probes: state.goodProbes,
      bad_probes: state.badProbes,
      sync_pending: state.syncPending,
      disk_free_bytes: disk?.free_bytes ?? null,
      disk_low: disk?.low ?? false,
    };
  },
});
