// functions/state-override.ts
// The auto-adjust override flag (state_archive/auto_adjust_override.json): enable, disable or show it.

import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { overrideSchema, type OverrideFlag } from '../runtime/state/model.ts';
import { readOverride, writeOverride } from '../runtime/state/persist.ts';
import { OVERRIDE_KEY } from '../runtime/keys.ts';

export default defineFunction({
  name: 'state-override',
  description: 'Enable or disable automatic state adjustment (disabled → every state update is a preview with reason override_disabled), or show the flag.',
  input: z
    .object({
      action: z.enum(['enable', 'disable', 'status']).describe('turn automatic state adjustment on or off, or show the flag'),
      reason: z.string().max(500).optional().describe('why (recorded in the flag and the audit)'),
      dry_run: z.boolean().default(false).describe('show what would be written'),
    })
    .strict(),
  output: z.object({
    action: z.enum(['enable', 'disable', 'status']),
    key: z.string(),
    dry_run: z.boolean(),
    /** The flag before this call. */
    previous: overrideSchema,
    /** The flag after this call (what would be written, in a dry run). */
    current: overrideSchema,
    changed: z.boolean(),
  }),
  async run(input, ctx) {
    // The primary only, like state-update: a flag set in the cache would not stop the other PC.
    const store = ctx.store.primary;
    const { flag: previous, etag } = await readOverride(store);
    if (input.action === 'status') return { action: input.action, key: OVERRIDE_KEY, dry_run: input.dry_run, previous, current: previous, changed: false };
    const status = input.action === 'enable' ? 'enabled' : 'disabled';
    const current: OverrideFlag = {
      status,
      reason: input.reason ?? (status === 'enabled' ? 'enabled' : 'disabled'),
      at: new Date(ctx.clock.now()).toISOString(),
      actor: ctx.config.actor,
    };
    if (!input.dry_run) {
      await writeOverride(store, current, etag);
      await ctx.audit.record('state.override.change', { from: previous.status, to: status, reason: current.reason, key: OVERRIDE_KEY });
    }
    return { action: input.action, key: OVERRIDE_KEY, dry_run: input.dry_run, previous, current, changed: previous.status !== status };
  },
});
