// runtime/cli/state.ts
// `runtime state update|override|prune`: the seed 003 state commands, run in this process through the invoker.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, loadRuntime } from './load.ts';
import type { Command, Flags } from './main.ts';
import { printJson } from './output.ts';
import { listed } from './summaries.ts';

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
  ...listed('state update'),
  duty: 'state-update',
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
  ...listed('state override'),
  duty: 'state-override',
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
  ...listed('state prune'),
  duty: 'state-prune',
  // --keep and --dry-run come from the state-prune duty's zod input.
  options: { ...configOption },
  optionHelp: { ...configHelp },
  async run(input, flags) {
    printJson(await runStateFunction(flags, 'state-prune', input));
    return 0;
  },
});

export const stateCommands: Command[] = [stateUpdateCommand, stateOverrideCommand, statePruneCommand];
