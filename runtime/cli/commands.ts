// runtime/cli/commands.ts
// The command table, by first word: a command's module (and what it imports) is loaded only when that command runs; `runtime --help` loads none.

import type { Command } from './main.ts';

/** In the order `runtime --help` lists them. */
const groups: Record<string, () => Promise<Command[]>> = {
  start: async () => [(await import('./start.ts')).startCommand],
  invoke: async () => [(await import('./invoke.ts')).invokeCommand],
  whatif: async () => [(await import('./whatif.ts')).whatifCommand],
  status: async () => [(await import('./status.ts')).statusCommand],
  sync: async () => [(await import('./sync.ts')).syncCommand],
  health: async () => [(await import('./health.ts')).healthCommand],
  config: async () => [(await import('./config-diff.ts')).configDiffCommand],
  handoff: async () => {
    const m = await import('./handoff.ts');
    return [m.handoffMakeCommand, m.handoffLoadCommand];
  },
  rp: async () => {
    const m = await import('./rp.ts');
    return [m.rpMakeCommand, m.rpListCommand, m.rpRestoreCommand];
  },
  state: async () => (await import('./state.ts')).stateCommands,
  dashboard: async () => {
    const m = await import('./dashboard.ts');
    return [m.dashboardExportCommand, m.dashboardVerifyCommand];
  },
  quality: async () => [(await import('./quality.ts')).qualityCommand],
  alerts: async () => {
    const m = await import('./alerts.ts');
    return [m.alertsListCommand, m.alertsTestCommand];
  },
  compact: async () => [(await import('./lake.ts')).compactCommand],
  query: async () => [(await import('./lake.ts')).queryCommand],
  export: async () => [(await import('./lake.ts')).exportCommand],
  capacity: async () => [(await import('./lake.ts')).capacityCommand],
  incident: async () => [(await import('./lake.ts')).incidentMakeCommand],
  diag: async () => [(await import('./diag.ts')).diagApiCommand],
  emulator: async () => [(await import('./emulator.ts')).emulatorCommand],
};

/** The commands whose name starts with `word` (none for an unknown word). */
export async function commandsStartingWith(word: string): Promise<Command[]> {
  return Object.hasOwn(groups, word) ? groups[word]!() : [];
}

/** Every command (loads every module, seconds with ccxt and the AWS SDK: the test that checks COMMAND_SUMMARIES, runtime/cli/summaries.ts, against the modules). */
export async function allCommands(): Promise<Command[]> {
  return (await Promise.all(Object.values(groups).map((load) => load()))).flat();
}
