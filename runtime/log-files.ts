// runtime/log-files.ts
// Local log files rotated by size and age (rotating-file-stream): runtime.log, state_alerts.log, automation_runs.log.

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Rfs from 'rotating-file-stream';
import type { RotatingFileStream } from 'rotating-file-stream';

/** rotating-file-stream, loaded (its CommonJS build, synchronously) when a file is first opened: a command that writes no line does not load it. */
function createStream(...args: Parameters<typeof Rfs.createStream>): RotatingFileStream {
  return (createRequire(import.meta.url)('rotating-file-stream') as typeof Rfs).createStream(...args);
}

export interface RotationOptions {
  /** Rotate when the file reaches this size (rotating-file-stream notation: `10M`, `512K`). */
  size: string;
  /** Rotate at every UTC boundary of this interval (`1d`), and at start when the file is from an earlier one. */
  interval: string;
  /** Rotated files kept per log; older ones are removed. */
  maxFiles: number;
}

/** 10 MB or a UTC day, whichever comes first; two weeks of files kept. Env: BTC_TS_LOG_ROTATE_SIZE / _INTERVAL / _KEEP. */
export function rotationFromEnv(env: NodeJS.ProcessEnv = process.env): RotationOptions {
  const keep = Number(env.BTC_TS_LOG_ROTATE_KEEP);
  return {
    size: env.BTC_TS_LOG_ROTATE_SIZE || '10M',
    interval: env.BTC_TS_LOG_ROTATE_INTERVAL || '1d',
    maxFiles: Number.isInteger(keep) && keep > 0 ? keep : 14,
  };
}

const pad = (n: number) => String(n).padStart(2, '0');

/**
 * `runtime.log` stays the live file (the handoff and operators read it by that name); rotated ones
 * are `runtime-20260105-01.log` (UTC day of the rotation, index within it). The history of rotated
 * files lives in `.<name>.history.txt` next to them.
 */
export function rotatingFile(dir: string, file: string, o: RotationOptions = rotationFromEnv()): RotatingFileStream {
  mkdirSync(dir, { recursive: true });
  const ext = path.extname(file);
  const base = file.slice(0, file.length - ext.length);
  const generator = (time: number | Date, index?: number) => {
    if (!time) return file;
    const d = new Date(time);
    return `${base}-${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(index ?? 1)}${ext}`;
  };
  return createStream(generator, {
    path: dir,
    size: o.size,
    interval: o.interval,
    intervalBoundary: true,
    intervalUTC: true,
    initialRotation: true,
    maxFiles: o.maxFiles,
    history: `.${file}.history.txt`,
  });
}

/** Pause between attempts to reopen a log file that failed to write (a full disk, EIO). */
const REOPEN_AFTER_MS = 1_000;

/**
 * The rotating runtime.log as pino's file stream. A write error (ENOSPC on a full disk, EIO, its
 * directory gone) must not end the process: rotating-file-stream emits 'error' and is destroyed, so
 * this says so once on stderr, keeps later lines in memory (up to `maxBufferBytes`; past that they
 * are dropped and counted) and opens a new stream on a later write (at most once a second), writing
 * the kept lines first — including those the failed stream had accepted but not written (their write
 * callbacks report the error). Returns what pino.multistream needs.
 */
export function resilientRotatingFile(dir: string, file: string, o: RotationOptions = rotationFromEnv(), maxBufferBytes = 16 * 1024 * 1024): { write(chunk: string): boolean } {
  let stream: RotatingFileStream | null = null;
  let failedAt = 0;
  let kept: string[] = [];
  let keptBytes = 0;
  let dropped = 0;
  const keep = (chunk: string) => {
    if (keptBytes + chunk.length <= maxBufferBytes) {
      kept.push(chunk);
      keptBytes += chunk.length;
    } else dropped++;
  };
  const open = () => {
    const s = rotatingFile(dir, file, o);
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (stream !== s) return;
      stream = null;
      failedAt = Date.now();
      process.stderr.write(`${file}: cannot write (${err.code ?? err.message}); lines wait in memory (up to ${maxBufferBytes} bytes) until it can be reopened\n`);
    });
    return s;
  };
  return {
    write(chunk: string): boolean {
      if (!stream && (!failedAt || Date.now() - failedAt >= REOPEN_AFTER_MS)) {
        try {
          stream = open();
          if (failedAt) {
            process.stderr.write(`${file}: writing again (${kept.length} line(s) kept, ${dropped} dropped)\n`);
            if (kept.length) stream.write(kept.join(''));
            kept = [];
            keptBytes = 0;
            dropped = 0;
            failedAt = 0;
          }
        } catch {
          failedAt = Date.now();
        }
      }
      // A line the failing stream did not write comes back through its callback and is kept.
      if (stream) return stream.write(chunk, (err) => err && keep(chunk));
      keep(chunk);
      return true;
    },
  };
}

const queues = new Map<string, Promise<void>>();

/**
 * Appends `text` to <dir>/<file> through a short-lived rotating stream (for logs written a few
 * times a day: the state alerts and the automation runs). Appends of one process to one file are
 * serialised, so two never rotate it at once. Resolves once the text is on disk.
 */
export function appendRotating(dir: string, file: string, text: string, o: RotationOptions = rotationFromEnv()): Promise<void> {
  const key = path.resolve(dir, file);
  const run = (queues.get(key) ?? Promise.resolve()).then(
    () =>
      new Promise<void>((resolve, reject) => {
        const stream = rotatingFile(dir, file, o);
        stream.once('error', reject);
        stream.end(text, () => resolve());
      }),
  );
  const settled = run.catch(() => undefined);
  queues.set(key, settled);
  void settled.then(() => {
    if (queues.get(key) === settled) queues.delete(key);
  });
  return run;
}
