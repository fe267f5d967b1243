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
import { BtcError } from '../errors.ts';
import { INSECURE_NO_TOKEN_KEY } from '../http/dashboard-data.ts';
import { isLoopbackHost } from '../http/security.ts';
import { configHelp, configOption } from './load.ts';
import type { Command, Flags } from './main.ts';

/** How often a runtime still in DEBUG re-runs its preflight. */
const PREFLIGHT_RETRY_MS = 15_000;

export const startCommand: Command = {
  name: 'start',
  summary: 'HTTP server + scheduler on this PC',
  usage: 'runtime start [--config F] [--host H] [--port P] [--demo] [--insecure-no-token]',
  options: { ...configOption, host: { type: 'string' }, port: { type: 'string' }, demo: { type: 'boolean' }, 'insecure-no-token': { type: 'boolean' } },
  optionHelp: {
    ...configHelp,
    host: 'bind address (default 127.0.0.1)',
    port: 'HTTP port (default 8787, or $BTC_TS_PORT)',
    demo: 'start the bundled exchange emulator and point the streams at it',
    'insecure-no-token': 'allow a non-loopback --host without BTC_TS_API_TOKEN (anyone on the network can then run duties; shouted in the log and on the page)',
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
  let loaded: ReturnType<typeof loadConfig>;
  let insecureNoToken: boolean;
  try {
    loaded = loadConfig({ file: flags.config as string | undefined, overrides });
    insecureNoToken = refuseOpenBindWithoutToken(loaded.config.http.host, loaded.secrets.BTC_TS_API_TOKEN, Boolean(flags['insecure-no-token']));
  } catch (err) {
    await demo?.emulator.stop();
    throw err;
  }
  const masker = createMasker(loaded.secrets, configSecretValues(loaded.config));
  const log = createLogger({
    masker,
    logsDir: pathsOf(loaded.config).logsDir,
    pretty: process.stdout.isTTY && !process.env.BTC_TS_LOG_JSON,
    consoleFd: 1,
    base: { host: loaded.config.host, pid: process.pid },
  });
  const runtime = await createRuntime(loaded, { log });
  if (insecureNoToken) {
    runtime.local.set(INSECURE_NO_TOKEN_KEY, true);
    log.error(
      { bind: loaded.config.http.host },
      `INSECURE: listening on ${loaded.config.http.host} without BTC_TS_API_TOKEN (--insecure-no-token): anyone who reaches this port can run every duty and download the handoff bundle`,
    );
  }
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

/**
 * A runtime reachable from the network must have a token: without one, any machine (or any web
 * page a colleague opens) could run duties. Returns true when the operator overrode this.
 * @throws BtcError InvalidInput (exit 2) for a non-loopback bind without a token or the override.
 */
export function refuseOpenBindWithoutToken(bindHost: string, token: string | undefined, insecureNoToken: boolean): boolean {
  if (isLoopbackHost(bindHost) || token) return false;
  if (insecureNoToken) return true;
  throw new BtcError(
    'InvalidInput',
    `refusing to listen on ${bindHost} without BTC_TS_API_TOKEN: anyone who can reach this PC could run duties and download the handoff bundle. ` +
      'Set BTC_TS_API_TOKEN (32+ characters), or bind 127.0.0.1, or pass --insecure-no-token to accept the risk.',
  );
}
