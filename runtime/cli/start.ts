// runtime/cli/start.ts
// `runtime start`: the HTTP server and the scheduler; DEBUG until preflight passes, then PROD.

import { serve } from '@hono/node-server';
import { assumeLeaseWithoutHeartbeat, startDemo } from '../collector/demo.ts';
import { loadConfig, pathsOf } from '../config.ts';
import { createRuntime, type Runtime } from '../context.ts';
import { createApp } from '../http/app.ts';
import { mountUi } from '../http/ui.ts';
import { createLogger } from '../logger.ts';
import { runPreflight } from '../preflight.ts';
import { startScheduler } from '../scheduler.ts';
import { configSecretValues, createMasker } from '../secrets.ts';
import { configHelp, configOption } from './load.ts';
import type { Command, Flags } from './main.ts';

/** How often a runtime still in DEBUG re-runs its preflight. */
const PREFLIGHT_RETRY_MS = 15_000;

export const startCommand: Command = {
  name: 'start',
  summary: 'HTTP server + scheduler on this PC',
  usage: 'runtime start [--config F] [--host H] [--port P] [--demo]',
  options: { ...configOption, host: { type: 'string' }, port: { type: 'string' }, demo: { type: 'boolean' } },
  optionHelp: {
    ...configHelp,
    host: 'bind address (default 127.0.0.1)',
    port: 'HTTP port (default 8787, or $BTC_TS_PORT)',
    demo: 'start the bundled exchange emulator and point the streams at it',
  },
  async run(flags) {
    const runtime = await startRuntime(flags);
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
    await runtime.stop();
    return 0;
  },
};

export interface StartedRuntime extends Runtime {
  url: string;
  stop(): Promise<void>;
}

export async function startRuntime(flags: Flags): Promise<StartedRuntime> {
  const overrides: Record<string, unknown> = { http: {} as Record<string, unknown> };
  if (flags.host) (overrides.http as Record<string, unknown>).host = flags.host;
  if (flags.port !== undefined) (overrides.http as Record<string, unknown>).port = Number(flags.port);
  const demo = flags.demo ? await startDemo() : null;
  if (demo) Object.assign(overrides, demo.overrides);
  const loaded = loadConfig({ file: flags.config as string | undefined, overrides });
  const masker = createMasker(loaded.secrets, configSecretValues(loaded.config));
  const log = createLogger({
    masker,
    logsDir: pathsOf(loaded.config).logsDir,
    pretty: process.stdout.isTTY && !process.env.BTC_TS_LOG_JSON,
    consoleFd: 1,
    base: { host: loaded.config.host, pid: process.pid },
  });
  const runtime = await createRuntime(loaded, { log });
  // Bad streams (unknown exchange, symbol, topic) stop the start with a clear error, not the first tick.
  const { assertStreamsValid, checkStreams, exchangePoolOf } = await import('../collector/plan.ts');
  const streamCheck = await checkStreams(loaded.config, exchangePoolOf(runtime.local, loaded.config), { loadMarkets: true });
  try {
    assertStreamsValid(streamCheck);
  } catch (err) {
    await runtime.shutdown();
    await demo?.emulator.stop();
    throw err;
  }
  for (const u of streamCheck.unverified) log.warn(u, `exchange ${u.exchange} unreachable at start; its symbols are checked when its markets load`);
  if (demo) {
    log.info({ emulator: demo.emulator.url }, `demo: exchange emulator on ${demo.emulator.url}, streams for ticker, trades, orderbook, ohlcv`);
    if (assumeLeaseWithoutHeartbeat(runtime)) log.info('demo: no leader-heartbeat duty; this runtime collects as holder of epoch 1');
  }
  const app = createApp(runtime, { extend: mountUi });
  const { host, port } = loaded.config.http;
  const server = serve({ fetch: app.fetch, hostname: host, port });
  const boundPort = await new Promise<number>((resolve, reject) => {
    server.once('listening', () => resolve((server.address() as { port: number }).port));
    server.once('error', reject);
  });
  const url = `http://${host}:${boundPort}`;
  log.info({ url, primary: runtime.store.primary.describe, cache: runtime.store.secondary.describe, mode: runtime.mode.get() }, `btc-ts runtime ${runtime.host} listening on ${url}`);

  const scheduler = startScheduler({ schedules: runtime.schedules, invoker: runtime.invoker, config: loaded.config, context: runtime.context, log });
  let preflightTimer: NodeJS.Timeout | undefined;
  const preflight = async () => {
    const results = await runPreflight(runtime);
    const failed = results.filter((r) => !r.ok);
    if (failed.length === 0) {
      await runtime.mode.set('PROD', 'preflight passed');
      return;
    }
    log.warn({ failed }, `preflight: ${failed.length} check(s) failed; staying in DEBUG (no collection writes)`);
    preflightTimer = setTimeout(() => void preflight().catch(() => undefined), PREFLIGHT_RETRY_MS);
  };
  if (!loaded.config.mode) void preflight().catch((err) => log.warn({ err: String(err) }, 'preflight crashed'));

  const stop = async () => {
    clearTimeout(preflightTimer);
    scheduler.stop();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await runtime.shutdown();
    await demo?.emulator.stop();
    log.info('stopped');
  };
  return Object.assign(runtime, { url, stop });
}
