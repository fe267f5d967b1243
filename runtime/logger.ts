// runtime/logger.ts
// Structured pino logs to stdout and logs/runtime.log (rotated); secret values masked on every line.
// A one-shot command's logger is lazy: pino (~25 ms to load) is loaded at its first line of an enabled level.

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Pino from 'pino';
import type { Logger } from 'pino';
import { resilientRotatingFile, type RotationOptions } from './log-files.ts';
import type { Masker } from './secrets.ts';

export type { Logger };

export interface LoggerOptions {
  /** Directory of runtime.log; no file when absent. */
  logsDir?: string;
  level?: string;
  /** Human-readable console output (pino-pretty), used in DEBUG mode on a terminal. */
  pretty?: boolean;
  masker: Masker;
  /** Fields every line carries (host, …). */
  base?: Record<string, unknown>;
  /** Rotation of runtime.log (default rotationFromEnv(): 10 MB or a UTC day, 14 files kept). */
  rotation?: RotationOptions;
  /** Console stream; stderr by default so command output on stdout stays clean JSON. */
  consoleFd?: 1 | 2;
  /**
   * One-shot commands: pino is loaded, and the logger made, only when a line of an enabled level is
   * written or anything else of the logger is used (child, bindings, …); until then a line below the
   * level costs nothing and `flush()` has nothing to flush. The lines, once written, are the same.
   * An unknown level still throws here, as pino would. Default false.
   */
  lazy?: boolean;
}

export const LOG_FILE = 'runtime.log';
/** Log lines kept in memory while runtime.log cannot be written (a full disk); past this they are dropped (bytes). */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/** pino, loaded synchronously (it is CommonJS) when a logger is first made. */
function loadPino(): typeof Pino.pino {
  return createRequire(import.meta.url)('pino') as typeof Pino.pino;
}

/** pino's levels (its defaults: this project defines no custom level). */
const LEVEL_VALUES: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? process.env.BTC_TS_LOG_LEVEL ?? 'info';
  if (options.logsDir) mkdirSync(options.logsDir, { recursive: true });
  if (!options.lazy || !Object.hasOwn(LEVEL_VALUES, level)) return makeLogger(options, level);
  return lazyLogger(level, () => makeLogger(options, level));
}

/**
 * A Logger that makes the real one (`make`) on first need: a line at or above `level`, or any use
 * but a line below it, `level`, `isLevelEnabled` and `flush` (nothing written, nothing to flush).
 * Everything is then passed to the real logger, so nothing a caller can see differs.
 */
function lazyLogger(level: string, make: () => Logger): Logger {
  let real: Logger | null = null;
  const get = () => (real ??= make());
  const threshold = LEVEL_VALUES[level]!;
  const noop = () => undefined;
  return new Proxy({} as Logger, {
    get(_target, prop) {
      if (real === null && typeof prop === 'string') {
        if (prop === 'level') return level;
        if (prop === 'isLevelEnabled') return (l: string) => LEVEL_VALUES[l] !== undefined && LEVEL_VALUES[l] >= threshold;
        if (prop === 'flush') return (cb?: (err?: Error) => void) => void cb?.();
        if (prop === 'silent') return noop;
        if (Object.hasOwn(LEVEL_VALUES, prop) && LEVEL_VALUES[prop]! < threshold) return noop;
      }
      const logger = get();
      const value = Reflect.get(logger, prop, logger) as unknown;
      return typeof value === 'function' ? value.bind(logger) : value;
    },
    set(_target, prop, value) {
      return Reflect.set(get(), prop, value);
    },
    has(_target, prop) {
      return Reflect.has(get(), prop);
    },
  });
}

function makeLogger(options: LoggerOptions, level: string): Logger {
  const pino = loadPino();
  const streams: Pino.StreamEntry[] = [];
  const fd = options.consoleFd ?? 2;
  if (options.pretty) {
    // pino-pretty as a synchronous stream keeps ordering with other console output.
    streams.push({ level: level as Pino.Level, stream: pino.transport({ target: 'pino-pretty', options: { destination: fd, colorize: true } }) });
  } else {
    streams.push({ level: level as Pino.Level, stream: pino.destination({ fd, sync: false }) });
  }
  if (options.logsDir) {
    // Rotated by size and UTC day, two weeks kept; a write error keeps lines in memory up to LOG_BUFFER_MAX_BYTES (runtime/log-files.ts).
    streams.push({ level: level as Pino.Level, stream: resilientRotatingFile(options.logsDir, LOG_FILE, options.rotation, LOG_BUFFER_MAX_BYTES) });
  }
  return pino(
    {
      level,
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['secrets', '*.secrets', 'authorization', '*.authorization', 'headers.authorization', '*.secretAccessKey', '*.accessKeyId'],
        censor: '***',
      },
      hooks: {
        // Value-based masking catches a secret wherever it appears, even inside an error message.
        streamWrite: (line: string) => options.masker.text(line),
      },
    },
    pino.multistream(streams),
  );
}

/** A logger that writes nothing (unit tests). */
export function silentLogger(): Logger {
  return loadPino()({ level: 'silent' });
}
