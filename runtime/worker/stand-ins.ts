// runtime/worker/stand-ins.ts
// What a worker has in place of a PC's parts: no cache behind the router, no raw streams, and console logs instead of log files.

import pino from 'pino';
import { BtcError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import type { Masker } from '../secrets.ts';
import type { ObjectStore } from '../store/types.ts';
import type { RawStreams } from '../streams.ts';

/** How the router's cache slot and the status name the missing cache. */
export const NO_CACHE = 'none (worker: no cache)';

/**
 * The router's cache in a worker: there is no cache to fall back to, so every call fails
 * Unavailable, naming why. A write the primary refuses is then an error the caller sees, never a
 * record kept somewhere that does not survive the request.
 */
export function noCache(): ObjectStore {
  const refuse = async (): Promise<never> => {
    throw new BtcError('Unavailable', 'the primary is down and a worker has no cache to write to');
  };
  return { describe: NO_CACHE, get: refuse, getOrNull: refuse, head: refuse, put: refuse, delete: refuse, listPage: refuse };
}

/**
 * ctx.streams in a worker: no raw segments are written here (collect-tick is Node-only). `ship`
 * has nothing to send (the lease's flush before release calls it); anything else is a defect.
 */
export const NO_STREAMS = new Proxy({} as RawStreams, {
  get(_t, prop) {
    if (prop === 'ship') return async () => [];
    if (typeof prop === 'symbol' || prop === 'then') return undefined;
    return () => {
      throw new BtcError('NotAvailableHere', `raw streams (${String(prop)}) are not available in a worker`);
    };
  },
});

/** pino's browser build writing one masked JSON line per entry to the console (workerd's log). */
export function consoleLogger(host: string, masker: Masker, level: string): Logger {
  const write = (o: object) => console.log(masker.text(JSON.stringify(o)));
  return pino({ level, base: { host }, browser: { asObject: true, write } }) as unknown as Logger;
}
