// runtime/cli/load.ts
// Builds a runtime for one CLI command: config from --config/env, quiet logs on stderr.

import { loadConfig } from '../config.ts';
import { createRuntime, type Runtime } from '../context.ts';
import { createLogger } from '../logger.ts';
import { configSecretValues, createMasker } from '../secrets.ts';
import { pathsOf } from '../config.ts';
import type { Flags } from './main.ts';

export const configOption = { config: { type: 'string' } } as const;
export const configHelp = { config: 'config file (default: $BTC_TS_CONFIG or config/app.yaml)' };

/** A runtime for a short-lived command: logs go to stderr at warn level unless BTC_TS_LOG_LEVEL says otherwise. */
export async function loadRuntime(flags: Flags, overrides?: Record<string, unknown>): Promise<Runtime> {
  const loaded = loadConfig({ file: flags.config as string | undefined, overrides });
  const masker = createMasker(loaded.secrets, configSecretValues(loaded.config));
  const log = createLogger({
    masker,
    logsDir: pathsOf(loaded.config).logsDir,
    level: process.env.BTC_TS_LOG_LEVEL ?? 'warn',
    consoleFd: 2,
    base: { host: loaded.config.host, pid: process.pid, cli: true },
  });
  // The status object belongs to the runtime serving this host: a command must not overwrite its row.
  return createRuntime(loaded, { log, writeStatus: false });
}

/**
 * The runtime listening on this PC for this config (same host name), or null. Commands that run
 * a duty go through it when it is there, so each function has one run in flight per PC.
 */
export async function runningRuntime(configFile?: string): Promise<{ base: string; headers: Record<string, string> } | null> {
  const { config, secrets } = loadConfig({ file: configFile });
  const base = `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${config.http.port}`;
  try {
    const health = await fetch(`${base}/health`, { signal: AbortSignal.timeout(500) });
    if (!health.ok || ((await health.json()) as { host?: string }).host !== config.host) return null;
  } catch {
    return null;
  }
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (secrets.BTC_TS_API_TOKEN) headers.authorization = `Bearer ${secrets.BTC_TS_API_TOKEN}`;
  return { base, headers };
}
