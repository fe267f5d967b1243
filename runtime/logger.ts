// runtime/logger.ts
// Structured pino logs to stdout and logs/runtime.log; secret values masked on every line.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
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
  /** Console stream; stderr by default so command output on stdout stays clean JSON. */
  consoleFd?: 1 | 2;
}

export const LOG_FILE = 'runtime.log';
/** Log lines kept in memory while runtime.log cannot be written (a full disk); past this they are dropped (bytes). */
export const LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * A log file that fails to write (ENOSPC on a full disk, EIO) must not crash the runtime: pino's
 * file stream (sonic-boom) emits 'error', which unhandled ends the process. The lines stay in its
 * buffer (up to LOG_BUFFER_MAX_BYTES) and are written by the next write once the disk takes them;
 * stderr says so once when the file stops and once when it writes again.
 */
function survivingFullDisk<S extends NodeJS.EventEmitter>(file: S): S {
  let failing = false;
  file.on('error', (err: NodeJS.ErrnoException) => {
    if (failing) return;
    failing = true;
    process.stderr.write(`${LOG_FILE}: cannot write (${err.code ?? err.message}); lines wait in memory (up to ${LOG_BUFFER_MAX_BYTES} bytes) until the disk takes writes again\n`);
  });
  file.on('write', () => {
    if (!failing) return;
    failing = false;
    process.stderr.write(`${LOG_FILE}: writing again\n`);
  });
  return file;
}

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
    streams.push({ level: level as pino.Level, stream: survivingFullDisk(pino.destination({ dest: path.join(options.logsDir, LOG_FILE), mkdir: true, sync: false, maxLength: LOG_BUFFER_MAX_BYTES })) });
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
