// runtime/cli/commands.ts
// The table of CLI commands; each command lives in its own file next to this one.

import { configDiffCommand } from './config-diff.ts';
import { healthCommand } from './health.ts';
import { invokeCommand } from './invoke.ts';
import type { Command } from './main.ts';
import { startCommand } from './start.ts';
import { statusCommand } from './status.ts';
import { syncCommand } from './sync.ts';
import { whatifCommand } from './whatif.ts';

export const commands: Command[] = [startCommand, invokeCommand, whatifCommand, statusCommand, configDiffCommand, syncCommand, healthCommand];
