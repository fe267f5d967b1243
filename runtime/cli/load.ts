// runtime/cli/load.ts
// Builds a runtime for one CLI command: config from --config/env, quiet logs on stderr.

import { loadConfig } from '../config.ts';
import { createRuntime, type Runtime } from '../context.ts';
import { CLI_COMMAND_SLOT } from '../define.ts';
import { createLogger } from '../logger.ts';
import { configSecretValues, createMasker } from '../secrets.ts';
import { pathsOf } from '../config.ts';
import { readDataDirLock } from '../data-dir-lock.ts';
import { processAlive } from '../file-lock.ts';
import type { Flags } from './main.ts';
import { loadFunction } from '../registry.ts';

export const configOption = { config: { type: 'string' } } as const;
export const configHelp = { config: 'config file (default: $BTC_TS_CONFIG or config/app.yaml)' };

/**
 * A runtime for a short-lived command: logs go to stderr at warn level unless BTC_TS_LOG_LEVEL says
 * otherwise. `runsNoFunction`: the command only reads and writes the store (query, export), so the
 * duties (and ccxt, seconds to import) are not loaded. `runsOnly`: the one duty the command runs
 * (`runtime sync` → `sync`): only that duty's module and what it imports are loaded, and no
 * schedule (a command runs no cron), so a one-shot command does not pay for every duty's modules
 * (ccxt among them) in start-up time and memory.
 */
export async function loadRuntime(
  flags: Flags,
  overrides?: Record<string, unknown>,
  options: { runsNoFunction?: boolean; runsOnly?: string } = {},
): Promise<Runtime> {
  const loaded = loadConfig({ file: flags.config as string | undefined, overrides });
  const masker = createMasker(loaded.secrets, configSecretValues(loaded.config));
  const log = createLogger({
    masker,
    logsDir: pathsOf(loaded.config).logsDir,
    level: process.env.BTC_TS_LOG_LEVEL ?? 'warn',
    consoleFd: 2,
    base: { host: loaded.config.host, pid: process.pid, cli: true },
    // Most commands write no line at warn: pino is loaded at the first one.
    lazy: true,
  });
  const functions = options.runsNoFunction ? new Map() : options.runsOnly ? new Map([[options.runsOnly, await loadFunction(options.runsOnly)]]) : undefined;
  // The status object belongs to the runtime serving this host: a command must not overwrite its row.
  // Its metrics are read by nobody unless it serves them: prom-client loads only then (lazyMetrics).
  const runtime = await createRuntime(loaded, { log, writeStatus: false, lazyMetrics: true, ...(functions ? { functions, schedules: [] } : {}) });
  runtime.local.set(CLI_COMMAND_SLOT, true);
  return runtime;
}

/**
 * Runs `duty` once with `input` (already validated by its schema) in a runtime built for this
 * command, with only that duty loaded (loadRuntime `runsOnly`), and shuts the runtime down:
 * resolves with the duty's result. @throws what the duty or the invoker throws (BtcError).
 */
export async function invokeOnce(flags: Flags, duty: string, input: Record<string, unknown>, overrides?: Record<string, unknown>): Promise<unknown> {
  const runtime = await loadRuntime(flags, overrides, { runsOnly: duty });
  try {
    return await runtime.invoker.invoke(duty, input, 'cli');
  } finally {
    await runtime.shutdown();
  }
}

/**
 * How long the CLI waits for `/health` of a runtime on this PC (ms), on the port the
 * data-directory lock names and on the configured one alike. A port nobody listens on refuses at
 * once, so the wait only costs when something is there: a runtime that is slow on a busy PC (a
 * short look, 500 ms, made `diag api` check the wrong exchange under load) or a stranger that
 * never answers.
 */
const HEALTH_TIMEOUT_MS = 5_000;

/**
 * The runtime listening on this PC for this config (same host name), or null. Commands that run
 * a duty go through it when it is there, so each function has one run in flight per PC.
 */

export async function runningRuntime(configFile?: string): Promise<{ base: string; headers: Record<string, string>; health: RuntimeHealth } | null> {
  const { config, secrets } = loadConfig({ file: configFile });
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  // A runtime started with `--port P` is found through the data directory's lock, which names its
  // port; the configured port (BTC_TS_PORT, http.port) is tried next.
  const holder = await readDataDirLock(pathsOf(config).dataDir);
  const locked = holder && holder.host === config.host && holder.port > 0 && processAlive(holder.pid) ? holder.port : null;
  const ports = [...new Set([...(locked !== null ? [locked] : []), config.http.port])];
  for (const port of ports) {
    const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    try {
      const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
      if (!res.ok) continue;
      const health = (await res.json()) as RuntimeHealth;
      if (health.host !== config.host) continue;
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (secrets.BTC_TS_API_TOKEN) headers.authorization = `Bearer ${secrets.BTC_TS_API_TOKEN}`;
      return { base, headers, health };
    } catch {
      // not this port
    }
  }
  return null;
}

/** The part of `GET /health` the CLI reads; `collector` is absent on runtimes older than it. */
interface RuntimeHealth {
  host?: string;
  collector?: { exchange_url: string | null; streams: unknown[] };
}

/** Which exchange a check talks to, and why: for `diag api` and `whatif` to print. */
export interface ExchangeTarget {
  /** Base URL replacing ccxt's API hosts, or null for the exchanges' own hosts. */
  url: string | null;
  source: string;
}

/**
 * Loads the runtime for a check of the exchanges. When this config names no exchange URL and a
 * runtime on this PC collects through one (`runtime start --demo`: an emulator on a port only it
 * knows), the check uses that runtime's URL and streams, so it checks what is really collected.
 */
export async function loadRuntimeForExchangeCheck(flags: Flags): Promise<{ runtime: Runtime; exchange: ExchangeTarget }> {
  const { config } = loadConfig({ file: flags.config as string | undefined });
  if (config.collector.exchangeUrl) {
    const source = process.env.BTC_TS_EXCHANGE_URL ? 'BTC_TS_EXCHANGE_URL' : 'collector.exchangeUrl in the config';
    return { runtime: await loadRuntime(flags), exchange: { url: config.collector.exchangeUrl, source } };
  }
  const running = await runningRuntime(flags.config as string | undefined);
  const remote = running?.health.collector;
  if (running && remote?.exchange_url) {
    const overrides = { collector: { exchangeUrl: remote.exchange_url, streams: remote.streams } };
    return { runtime: await loadRuntime(flags, overrides), exchange: { url: remote.exchange_url, source: `the runtime running at ${running.base}` } };
  }
  return { runtime: await loadRuntime(flags), exchange: { url: null, source: "each exchange's own API hosts" } };
}
