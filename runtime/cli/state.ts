// runtime/cli/state.ts
// `runtime state update|override|prune`: the seed 003 state commands, run in this process through the invoker.

import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, invokeOnce } from './load.ts';
import type { Command } from './main.ts';
import { printJson, writeJsonOut } from './output.ts';
import { listed } from './summaries.ts';

export const stateUpdateCommand: Command = dutyCommand({
  ...listed('state update'),
  duty: 'state-update',
  // Every flag but --json-out and --config comes from the state-update duty's zod input.
  options: { ...configOption, 'json-out': { type: 'string' } },
  optionHelp: { ...configHelp, 'json-out': 'also write the result JSON to this file' },
  async run(input, flags) {
    const result = (await invokeOnce(flags, 'state-update', input)) as { decision: { status: string } };
    writeJsonOut(flags['json-out'], result);
    printJson(result);
    // A guard refusing the update is a failed check for scripts and cron.
    return result.decision.status === 'blocked' ? 1 : 0;
  },
});

export const stateOverrideCommand: Command = dutyCommand({
  ...listed('state override'),
  duty: 'state-override',
  positionals: ['action'],
  // <action>, --reason and --dry-run come from the state-override duty's zod input.
  positionalKeys: ['action'],
  options: { ...configOption },
  optionHelp: { ...configHelp },
  async run(input, flags) {
    printJson(await invokeOnce(flags, 'state-override', input));
    return 0;
  },
});

export const statePruneCommand: Command = dutyCommand({
  ...listed('state prune'),
  duty: 'state-prune',
  // --keep and --dry-run come from the state-prune duty's zod input.
  options: { ...configOption },
  optionHelp: { ...configHelp },
  async run(input, flags) {
    printJson(await invokeOnce(flags, 'state-prune', input));
    return 0;
  },
});

export const stateCommands: Command[] = [stateUpdateCommand, stateOverrideCommand, statePruneCommand];
