// functions/alert-check.ts
// Evaluates the alert rules (alerts.rules) on this host and fires, repeats or resolves incidents through the webhooks.

import { z } from 'zod';
import { applyConditions } from '../runtime/alerts/incidents.ts';
import { evaluateRules, gatherFacts, watchEvents } from '../runtime/alerts/rules.ts';
import { defineFunction } from '../runtime/define.ts';
import { evaluateDiag } from '../runtime/diag-reasons.ts';

export default defineFunction({
  name: 'alert-check',
  description:
    'Evaluate the alert rules (stream stale, gaps, primary down, cache backlog, sync failed, lease change, DIAG, free disk, clock skew): fire once per incident, repeat while it lasts, resolve once; webhooks of SIGNAL_WEBHOOK_URLS, audit alert.fire / alert.resolve.',
  input: z.object({}).strict(),
  output: z.object({
    open: z.number().int(),
    fired: z.array(z.string()),
    resolved: z.array(z.string()),
    repeated: z.array(z.string()),
    evaluated: z.array(z.string()),
  }),
  async run(_input, ctx) {
    watchEvents(ctx);
    // The DIAG reasons first, so the `diag` rule sees the mode they set.
    await evaluateDiag(ctx);
    ctx.metrics?.noteLeaseEpoch(ctx.lease.epoch);
    const facts = await gatherFacts(ctx);
    const { conditions, evaluated } = evaluateRules(ctx, facts);
    return applyConditions(ctx, conditions, evaluated);
  },
});
