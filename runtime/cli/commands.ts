// runtime/cli/commands.ts
// The table of CLI commands; each command lives in its own file next to this one.

import { configDiffCommand } from './config-diff.ts';
import { dashboardExportCommand, dashboardVerifyCommand } from './dashboard.ts';
import { diagApiCommand } from './diag.ts';
import { emulatorCommand } from './emulator.ts';
import { handoffLoadCommand, handoffMakeCommand } from './handoff.ts';
import { healthCommand } from './health.ts';
import { invokeCommand } from './invoke.ts';
import type { Command } from './main.ts';
import { rpListCommand, rpMakeCommand, rpRestoreCommand } from './rp.ts';
import { startCommand } from './start.ts';
import { stateCommands } from './state.ts';
import { statusCommand } from './status.ts';
import { syncCommand } from './sync.ts';
import { whatifCommand } from './whatif.ts';

export const commands: Command[] = [
  startCommand,
  invokeCommand,
  whatifCommand,
  statusCommand,
  syncCommand,
  healthCommand,
  configDiffCommand,
  handoffMakeCommand,
  handoffLoadCommand,
  rpMakeCommand,
  rpListCommand,
  rpRestoreCommand,
  ...stateCommands,
  dashboardExportCommand,
  dashboardVerifyCommand,
  diagApiCommand,
  emulatorCommand,
];
