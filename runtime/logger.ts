// runtime/logger.ts
// Structured pino logs to stdout and logs/runtime.log (rotated); secret values masked on every line.

import { mkdirSync } from 'node:fs';
import pino, { type Logger } from 'pino';
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
}

export const LOG_FILE = 'runtime.log';
/** Log lines kept in memory while runtime.log cannot be written (a full disk); past this they are dropped (bytes). */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? process.env.BTC_TS_LOG_LEVEL ?? 'info';
  const streams: pino.StreamEntry[] = [];
  const fd = options.consoleFd ?? 2;
  if (options.pretty) {
    // pino-pretty as a synchronous stream keeps ordering with other console output.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    streams.push({ level: level as pino.Level, stream: pino.transport({ target: 'pino-pretty', options: { destination: fd, colorize: true } }) });
  } else {
    streams.push({ level: level as pino.Level, stream: pino.destination({ fd, sync: false }) });
  }
  if (options.logsDir) {
    mkdirSync(options.logsDir, { recursive: true });
    // Rotated by size and UTC day, two weeks kept; a write error keeps lines in memory up to LOG_BUFFER_MAX_BYTES (runtime/log-files.ts).
    streams.push({ level: level as pino.Level, stream: resilientRotatingFile(options.logsDir, LOG_FILE, options.rotation, LOG_BUFFER_MAX_BYTES) });
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
  return pino({ level: 'silent' });
}
