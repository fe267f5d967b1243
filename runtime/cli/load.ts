// runtime/cli/load.ts
// Builds a runtime for one CLI command: config from --config/env, quiet logs on stderr.

import { loadConfig } from '../config.ts';
import { createRuntime, type Runtime } from '../context.ts';
import { createLogger } from '../logger.ts';
import { createMasker } from '../secrets.ts';
import { pathsOf } from '../config.ts';
import type { Flags } from './main.ts';

export const configOption = { config: { type: 'string' } } as const;
export const configHelp = { config: 'config file (default: $BTC_TS_CONFIG or config/app.yaml)' };

/** A runtime for a short-lived command: logs go to stderr at warn level unless BTC_TS_LOG_LEVEL says otherwise. */
export async function loadRuntime(flags: Flags, overrides?: Record<string, unknown>): Promise<Runtime> {
  const loaded = loadConfig({ file: flags.config as string | undefined, overrides });
  const masker = createMasker(loaded.secrets);
  const log = createLogger({
    masker,
    logsDir: pathsOf(loaded.config).logsDir,
    level: process.env.BTC_TS_LOG_LEVEL ?? 'warn',
    consoleFd: 2,
    base: { host: loaded.config.host, pid: process.pid, cli: true },
  });
  return createRuntime(loaded, { log });
}
