// runtime/cli/state.ts
// `runtime state update|override|prune`: the seed 003 state commands, run in this process through the invoker.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command, Flags } from './main.ts';
import { printJson } from './output.ts';

/** Runs one state function in-process with input already validated by its schema (flags-from-zod.ts). */
async function runStateFunction(flags: Flags, name: string, input: Record<string, unknown>): Promise<unknown> {
  const runtime = await loadRuntime(flags, undefined, { runsOnly: name });
  try {
    return await runtime.invoker.invoke(name, input, 'cli');
  } finally {
    await runtime.shutdown();
  }
}

export const stateUpdateCommand: Command = dutyCommand({
  name: 'state update',
  duty: 'state-update',
  summary: 'seed 003 state update: re-estimate, guard, decide applied|preview|blocked',
  usage:
    'runtime state update [--simulate-live] [--dry-run] [--max-delta X] [--var-cap X] [--liquidity-cap X] [--alert-mode auto|disable|force] ' +
    '[--alert-webhook URL]… [--json-out F] [--strategy S --symbol Y --mode M] [--reset] [--config F]',
  // Every flag but --json-out and --config comes from the state-update duty's zod input.
  options: { ...configOption, 'json-out': { type: 'string' } },
  optionHelp: { ...configHelp, 'json-out': 'also write the result JSON to this file' },
  async run(input, flags) {
    const result = (await runStateFunction(flags, 'state-update', input)) as { decision: { status: string } };
    const jsonOut = flags['json-out'];
    if (typeof jsonOut === 'string') {
      mkdirSync(path.dirname(path.resolve(jsonOut)), { recursive: true });
      writeFileSync(jsonOut, JSON.stringify(result, null, 2) + '\n');
    }
    printJson(result);
    // A guard refusing the update is a failed check for scripts and cron.
    return result.decision.status === 'blocked' ? 1 : 0;
  },
});

export const stateOverrideCommand: Command = dutyCommand({
  name: 'state override',
  duty: 'state-override',
  summary: 'enable / disable automatic state adjustment, or show the flag',
  usage: 'runtime state override enable|disable|status [--reason R] [--dry-run] [--config F]',
  positionals: ['action'],
  // <action>, --reason and --dry-run come from the state-override duty's zod input.
  positionalKeys: ['action'],
  options: { ...configOption },
  optionHelp: { ...configHelp },
  async run(input, flags) {
    printJson(await runStateFunction(flags, 'state-override', input));
    return 0;
  },
});

export const statePruneCommand: Command = dutyCommand({
  name: 'state prune',
  duty: 'state-prune',
  summary: 'keep the newest N archived state diffs per strategy/symbol/mode',
  usage: 'runtime state prune --keep N [--dry-run] [--config F]',
  // --keep and --dry-run come from the state-prune duty's zod input.
  options: { ...configOption },
  optionHelp: { ...configHelp },
  async run(input, flags) {
    printJson(await runStateFunction(flags, 'state-prune', input));
    return 0;
  },
});

export const stateCommands: Command[] = [stateUpdateCommand, stateOverrideCommand, statePruneCommand];
