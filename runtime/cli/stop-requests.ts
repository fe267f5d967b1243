// runtime/cli/stop-requests.ts
// Everything that asks `runtime start` to stop cleanly: signals, the --shutdown-file, and the death of the `npm start` shell above it.

import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { processAlive } from '../file-lock.ts';
import type { Logger } from '../logger.ts';

/** `runtime start` watches `<data dir>/runtime.stop` unless --shutdown-file names another file. */
export const SHUTDOWN_FILE_NAME = 'runtime.stop';

/** The shutdown file of a data directory when --shutdown-file is not given. */
export function defaultShutdownFile(dataDir: string): string {
  return path.join(dataDir, SHUTDOWN_FILE_NAME);
}

/** How often the shutdown file and the parent process are looked at (ms): well within one tick. */
const POLL_MS = 500;

/**
 * SIGHUP: the terminal closed (Windows: the console window). SIGBREAK: Ctrl-Break on Windows.
 * Node's default for both is to die without the shutdown hooks, i.e. without releasing the lease.
 */
const STOP_SIGNALS: NodeJS.Signals[] = process.platform === 'win32' ? ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] : ['SIGINT', 'SIGTERM', 'SIGHUP'];

export interface StopRequestOptions {
  /** Stop when this file appears (`runtime start --shutdown-file F`); it is removed then. */
  shutdownFile?: string;
  log: Logger;
  /** Parent pid to outlive; default: the parent when started through an npm script, else none. */
  watchParent?: number | null;
}

/**
 * Resolves with a one-line reason once a stop is asked for. After that the handlers are gone, so
 * a second Ctrl-C or SIGTERM ends the process at once (the usual "press twice to force").
 *
 * Under `npm start` the tree is npm → sh (cmd.exe on Windows) → node. A service manager stopping npm
 * by its pid makes npm pass SIGTERM to the shell only; the shell dies without passing it on and
 * this process would run on under pid 1, still holding the lease. The shell's only job is to run
 * us, so its death is a stop request. Outside npm the parent is not watched: a runtime started
 * with `nohup … &` is meant to outlive its shell.
 */
export function waitForStopRequest(options: StopRequestOptions): Promise<string> {
  const shutdownFile = options.shutdownFile;
  if (shutdownFile && existsSync(shutdownFile)) {
    // Left by an earlier stop that never completed; a fresh start must not stop at once.
    rmSync(shutdownFile, { force: true });
    options.log.info({ shutdownFile }, 'removed a shutdown file left from an earlier run');
  }
  const parent = options.watchParent !== undefined ? options.watchParent : process.env.npm_lifecycle_event ? process.ppid : null;

  return new Promise((resolve) => {
    const handlers = new Map<NodeJS.Signals, () => void>();
    let timer: NodeJS.Timeout | undefined;
    const done = (reason: string) => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      clearInterval(timer);
      resolve(reason);
    };
    for (const signal of STOP_SIGNALS) {
      const handler = () => done(signal);
      handlers.set(signal, handler);
      process.on(signal, handler);
    }
    if (shutdownFile || parent) {
      timer = setInterval(() => {
        if (shutdownFile && existsSync(shutdownFile)) {
          rmSync(shutdownFile, { force: true });
          done(`shutdown file ${shutdownFile} appeared`);
        } else if (parent && (process.ppid !== parent || !processAlive(parent))) {
          // POSIX re-parents an orphan (ppid changes); Windows keeps the old ppid, so ask whether it lives.
          done(`parent process ${parent} (the npm start shell) exited`);
        }
      }, POLL_MS);
    }
  });
}
