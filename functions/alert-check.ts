// functions/alert-check.ts
// Evaluates the alert rules (alerts.rules) on this host and fires, repeats or resolves incidents through the webhooks.

import { z } from 'zod';
import { applyConditions, openIncidents } from '../runtime/alerts/incidents.ts';
import { watchEvents } from '../runtime/alerts/event-watch.ts';
import { gatherFacts } from '../runtime/alerts/facts.ts';
import { evaluateRules } from '../runtime/alerts/rules.ts';
import { CLI_COMMAND_SLOT, defineFunction } from '../runtime/define.ts';
import { BtcError } from '../runtime/errors.ts';
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
    // A CLI process knows neither the lease nor the NAS state of the runtime serving this host: it
    // would resolve that runtime's incidents (or fire its own). The serving runtime runs this duty.
    if (ctx.local.get(CLI_COMMAND_SLOT)) {
      throw new BtcError('PreconditionFailed', 'alert-check runs in the runtime serving this host (npm start / runtime start); `runtime invoke alert-check` reaches it while it runs; `runtime alerts` lists what is open');
    }
    watchEvents(ctx, await openIncidents(ctx));
    // The DIAG reasons first, so the `diag` rule sees the mode they set.
    await evaluateDiag(ctx);
    ctx.metrics?.noteLeaseEpoch(ctx.lease.epoch);
    const facts = await gatherFacts(ctx);
    const { conditions, evaluated } = evaluateRules(ctx, facts);
    return applyConditions(ctx, conditions, evaluated);
  },
});
