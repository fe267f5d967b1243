// runtime/cli/start.ts
// `runtime start`: the HTTP server and the scheduler; DEBUG until preflight passes, then PROD.

import { NO_STREAMS_MESSAGE } from '../collector/first-run.ts';
import { serve, type ServerType } from '@hono/node-server';
import { loadConfig, pathsOf } from '../config.ts';
import { createRuntime, type Runtime } from '../context.ts';
import { acquireDataDirLock } from '../data-dir-lock.ts';
import { describeLockKind, detectLockKind } from '../file-lock.ts';
import { watchHostName } from '../host-guard.ts';
import { createApp } from '../http/app.ts';
import { mountUi } from '../http/ui.ts';
import { createLogger } from '../logger.ts';
import { CLOCK_CHECK, runPreflight } from '../preflight.ts';
import { guardConditionalWrites } from '../conditional-writes.ts';
import { startScheduler } from '../scheduler.ts';
import { configSecretValues, createMasker } from '../secrets.ts';
import { BtcError } from '../errors.ts';
import { INSECURE_NO_TOKEN_SLOT } from '../http/dashboard-model.ts';
import { isLoopbackHost } from '../http/security.ts';
import { RUNNING_FROM_DIST } from '../paths.ts';
import { configHelp, configOption } from './load.ts';
import { defaultShutdownFile, waitForStopRequest } from './stop-requests.ts';
import type { Command, Flags } from './main.ts';
import { listed } from './summaries.ts';

/** How often a runtime still in DEBUG re-runs its preflight. */
const PREFLIGHT_RETRY_MS = 15_000;

export const startCommand: Command = {
  ...listed('start'),
  usage: 'runtime start [--config FILE] [--host H] [--port P] [--demo] [--shutdown-file F] [--insecure-no-token]',
  options: {
    ...configOption,
    host: { type: 'string' },
    port: { type: 'string' },
    demo: { type: 'boolean' },
    'shutdown-file': { type: 'string' },
    'insecure-no-token': { type: 'boolean' },
  },
  optionHelp: {
    ...configHelp,
    host: 'bind address (default 127.0.0.1)',
    port: 'HTTP port (default 8787, or $BTC_TS_PORT)',
    demo: 'start the bundled exchange emulator and point the streams at it',
    'shutdown-file': 'stop cleanly when this file appears (default <data dir>/runtime.stop; for Windows service wrappers and schedulers that cannot send a signal)',
    'insecure-no-token': 'allow a non-loopback --host without BTC_TS_API_TOKEN (anyone on the network can then run duties; shouted in the log and on the page)',
  },
  async run(flags) {
    const runtime = await startRuntime(flags);
    const shutdownFile = (flags['shutdown-file'] as string | undefined) ?? defaultShutdownFile(runtime.paths.dataDir);
    const reason = await waitForStopRequest({ shutdownFile, log: runtime.log });
    runtime.log.info({ reason }, `stopping: ${reason}`);
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
  // What is running so far, undone in reverse when the start fails half-way: a refused start leaves nothing behind.
  const undo: Array<() => Promise<void>> = [];
  const unwind = async () => {
    for (const step of undo.reverse()) await step().catch(() => undefined);
  };
  try {
    // The emulator (and its hono, ws) is imported only for --demo.
    const demo = flags.demo ? await (await import('../collector/demo.ts')).startDemo() : null;
    if (demo) {
      Object.assign(overrides, demo.overrides);
      undo.push(() => demo.emulator.stop());
    }
    const loaded = loadConfig({ file: flags.config as string | undefined, overrides });
    const insecureNoToken = refuseOpenBindWithoutToken(loaded.config.http.host, loaded.secrets.BTC_TS_API_TOKEN, Boolean(flags['insecure-no-token']));
    const { host, port } = loaded.config.http;
    // Before anything writes into the data dir (audit WAL, cache): one runtime per data directory.
    const dataDirLock = await acquireDataDirLock(pathsOf(loaded.config).dataDir, { host: loaded.config.host, port });
    undo.push(() => dataDirLock.release());
    const masker = createMasker(loaded.secrets, configSecretValues(loaded.config));
    const log = createLogger({
      masker,
      logsDir: pathsOf(loaded.config).logsDir,
      pretty: process.stdout.isTTY && !process.env.BTC_TS_LOG_JSON,
      consoleFd: 1,
      base: { host: loaded.config.host, pid: process.pid },
    });
    // A promise rejected with nobody listening is a bug of ours or of a library (ccxt's ws layer has
    // one); Node would end the process for it. A collector must not stop for that: log it loudly
    // and go on. Removed again on the way out.
    const onUnhandled = (reason: unknown) => log.error({ err: masker.text(reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)) }, 'unhandled promise rejection (a bug): logged, the runtime goes on');
    process.on('unhandledRejection', onUnhandled);
    undo.push(async () => void process.off('unhandledRejection', onUnhandled));
    // Its own logger, and the process metrics /metrics promises (docs/http.md "Metrics").
    const runtime = await createRuntime(loaded, { log, processMetrics: true });
    undo.push(() => runtime.shutdown());
    // Hard links, or directory locks on a FAT/exFAT/SMB data directory (docs/windows.md); whatif says the same.
    const dataDir = pathsOf(loaded.config).dataDir;
    const lockKind = await detectLockKind(dataDir).catch((err) => {
      if (err instanceof BtcError) throw err; // a BTC_TS_LOCK_KIND that is not auto, hardlink or directory
      log.warn({ err: String(err) }, `could not tell whether ${dataDir} has hard links; locks find out on first use`);
      return null;
    });
    if (lockKind) log.info({ lock_kind: lockKind }, describeLockKind(lockKind, dataDir));
    if (insecureNoToken) {
      runtime.local.set(INSECURE_NO_TOKEN_SLOT, true);
      log.error(
        { bind: host },
        `INSECURE: listening on ${host} without BTC_TS_API_TOKEN (--insecure-no-token): anyone who reaches this port can run every duty and download the handoff bundle`,
      );
    }
    // Bad streams (unknown exchange, topic, timeframe) stop the start with a clear error; a symbol missing from the markets fails only its stream.
    // Also with no stream configured: ccxt (the heaviest import, ~0.4 s of CPU) is loaded here, before
    // the port is bound, because preflight and the first collect tick load it right after; loaded
    // then, it stalled /health for a second or more just after its first answer.
    const { assertStreamsValid, checkStreams, exchangePoolOf } = await import('../collector/plan.ts');
    const streamCheck = await checkStreams(loaded.config, exchangePoolOf(runtime.local, loaded.config), { loadMarkets: true });
    assertStreamsValid(streamCheck, { allowMissingSymbols: true });
    for (const m of streamCheck.missingSymbols ?? []) log.warn(m, `${m.message}: that stream fails with cause symbol_unavailable until the exchange lists it; the other streams collect`);
    for (const u of streamCheck.unverified) log.warn(u, `exchange ${u.exchange} unreachable at start; its symbols are checked when its markets load`);
    if (demo) log.info({ emulator: demo.emulator.url }, `demo: exchange emulator on ${demo.emulator.url}, streams for ticker, trades, orderbook, ohlcv`);
    const app = createApp(runtime, { extend: mountUi });
    const { server, port: boundPort } = await listen(app.fetch, host, port);
    undo.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const url = `http://${host}:${boundPort}`;
    // code: the compiled dist/ or the TypeScript sources through tsx (bin/runtime.mjs chooses).
    log.info({ url, primary: runtime.store.primary.describe, cache: runtime.store.cache.describe, mode: runtime.mode.get(), code: RUNNING_FROM_DIST ? 'dist' : 'sources' }, `btc-ts runtime ${runtime.host} listening on ${url}`);
    // After the port is bound: a start refused for its port says only why, in one line.
    if (loaded.config.collector.streams.length === 0) log.warn({ streams: 0 }, NO_STREAMS_MESSAGE);

    const scheduler = startScheduler({ schedules: runtime.schedules, invoker: runtime.invoker, config: loaded.config, context: runtime.context, log });
    const hostGuard = watchHostName(runtime);
    let preflightTimer: NodeJS.Timeout | undefined;
    const preflight = async () => {
      const results = await runPreflight(runtime, { allowMissingSymbols: true });
      // A clock off the NAS's fails whatif (the operator must fix NTP) but does not hold a running
      // runtime in DEBUG: every S3 request is signed with the NAS's time and the lease runs on the
      // monotonic clock, so collecting is safe; /health, status and the page say the clock is off.
      const failed = results.filter((r) => !r.ok && r.check !== CLOCK_CHECK);
      if (failed.length === 0) {
        await runtime.mode.set('PROD', 'preflight passed');
        return;
      }
      log.warn({ failed }, `preflight: ${failed.length} check(s) failed; staying in DEBUG (no collection writes)`);
      preflightTimer = setTimeout(() => void preflight().catch(() => undefined), PREFLIGHT_RETRY_MS);
    };
    if (!loaded.config.mode) void preflight().catch((err) => log.warn({ err: String(err) }, 'preflight crashed'));
    // A forced mode skips preflight; /health and the page still say whether the NAS enforces conditional writes.
    else void runtime.store.checkConditionalWrites(runtime.clock.now()).catch(() => undefined);
    // A primary back from an outage without conditional writes: DEBUG again until preflight passes.
    guardConditionalWrites(runtime, {
      onSteppedDown() {
        clearTimeout(preflightTimer);
        preflightTimer = setTimeout(() => void preflight().catch(() => undefined), PREFLIGHT_RETRY_MS);
      },
    });

    const stop = async () => {
      clearTimeout(preflightTimer);
      hostGuard.stop();
      scheduler.stop();
      await unwind();
      log.info('stopped');
    };
    return Object.assign(runtime, { url, stop });
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** The start-time warning, `whatif` and the page's Streams card say the same thing (runtime/collector/first-run.ts). */
export { NO_STREAMS_MESSAGE };

/**
 * Binds the HTTP server. A port that is taken, forbidden or an address this PC does not have is a
 * usage error with what to do about it, not a raw errno.
 * @throws BtcError InvalidInput (exit 2) for EADDRINUSE, EACCES, EADDRNOTAVAIL; the raw error otherwise.
 */
async function listen(fetch: Parameters<typeof serve>[0]['fetch'], host: string, port: number): Promise<{ server: ServerType; port: number }> {
  const server = serve({ fetch, hostname: host, port });
  try {
    const bound = await new Promise<number>((resolve, reject) => {
      server.once('listening', () => resolve((server.address() as { port: number }).port));
      server.once('error', reject);
    });
    return { server, port: bound };
  } catch (err) {
    server.close();
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${host}:${port}`;
    const pickAnother = 'pick another with `runtime start --port P` (npm start -- --port P) or BTC_TS_PORT=P';
    if (code === 'EADDRINUSE') {
      throw new BtcError(
        'InvalidInput',
        `port ${port} on ${host} is already in use (EADDRINUSE): another program, maybe a runtime started earlier, is listening there. ` +
          `Check with \`curl http://${hostForUrl(host)}:${port}/health\` (a btc-ts runtime answers with its host and mode); ${pickAnother}.`,
      );
    }
    if (code === 'EACCES') throw new BtcError('InvalidInput', `not allowed to listen on ${where} (EACCES; ports below 1024 need privileges): ${pickAnother}.`);
    if (code === 'EADDRNOTAVAIL') throw new BtcError('InvalidInput', `cannot listen on ${where}: this PC has no address ${host} (EADDRNOTAVAIL); check --host.`);
    throw err;
  }
}

function hostForUrl(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
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
