// test/helpers/lease-inproc.ts
// In-process runtimes for lease tests: one per simulated PC on a shared primary, each with its own hand-moved clock.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { manualClock } from '../../runtime/clock.ts';
import { loadConfig } from '../../runtime/config.ts';
import { createRuntime, type Runtime } from '../../runtime/context.ts';
import type { LeaseView } from '../../runtime/define.ts';
import { leaseDocSchema } from '../../runtime/lease.ts';
import { silentLogger } from '../../runtime/logger.ts';
import type { ObjectStore } from '../../runtime/store/types.ts';
import { LEASE_KEY } from '../../runtime/keys.ts';

export interface BeatResult {
  action: string;
  holder: boolean;
  epoch: number;
  leader: string | null;
  degraded: boolean;
  detail?: string;
}

/** Creates runtimes and temp dirs, and disposes of all of them in `dispose()` (call it in afterEach). */
export function leaseRuntimes(timings: { leaseSeconds: number; heartbeatSeconds: number }) {
  const dirs: string[] = [];
  const runtimes: Runtime[] = [];
  const tempDir = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-lease-'));
    dirs.push(dir);
    return dir;
  };

  /**
   * One runtime on the shared primary; `skewMs` offsets its wall clock (a PC whose clock is off); `env` adds variables;
   * `pid` stands in for the process id (a host restarted in-process is a new process).
   */
  async function runtimeOn(primary: ObjectStore, host: string, options: { skewMs?: number; preferred?: string; env?: NodeJS.ProcessEnv; pid?: number } = {}) {
    const clock = manualClock(Date.UTC(2026, 0, 1) + (options.skewMs ?? 0));
    const env: NodeJS.ProcessEnv = {
      BTC_TS_HOST: host,
      BTC_TS_DATA_DIR: tempDir(),
      BTC_TS_LOGS_DIR: tempDir(),
      BTC_TS_MODE: 'PROD',
      BTC_TS_LEASE_SECONDS: String(timings.leaseSeconds),
      BTC_TS_HEARTBEAT_SECONDS: String(timings.heartbeatSeconds),
      ...(options.preferred ? { BTC_TS_PREFERRED_LEADER: options.preferred } : {}),
      ...options.env,
    };
    const runtime = await createRuntime(loadConfig({ env }), { log: silentLogger(), clock, primary, ...(options.pid !== undefined ? { pid: options.pid } : {}) });
    runtimes.push(runtime);
    const beat = async () => (await runtime.invoker.invoke('leader-heartbeat', {})) as BeatResult;
    return { runtime, clock, beat };
  }

  async function dispose() {
    await Promise.all(runtimes.splice(0).map((r) => r.shutdown().catch(() => undefined)));
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }

  return { runtimeOn, tempDir, dispose };
}

export async function leaseDoc(primary: ObjectStore) {
  return leaseDocSchema.parse(JSON.parse((await primary.get(LEASE_KEY)).body.toString()));
}

export const events = (r: Runtime, name: string) => r.audit.recentEvents(200).filter((e) => e.event === name);

/** One call on the lease object as the holder's store saw it, with what its LeaseView said at that moment. */
export interface LeaseCall {
  op: 'get' | 'put';
  /** `lease.holder` of the watched runtime when the call was sent: false = collection already stopped. */
  holder: boolean;
}

/**
 * Wraps a real store: every call on the lease key is logged with the watched runtime's `holder`
 * flag at the moment it was sent (to prove "stop collecting first"), and `denyPutsWith` /
 * `denyReadsWith` send lease writes / reads to another store — e.g. the same MinIO with a wrong
 * secret, whose real answer is a 403.
 */
export function leaseCallSpy(inner: ObjectStore) {
  const calls: LeaseCall[] = [];
  let view: LeaseView | null = null;
  let putStore: ObjectStore = inner;
  let getStore: ObjectStore = inner;
  const note = (op: LeaseCall['op'], key: string) => {
    if (key === LEASE_KEY) calls.push({ op, holder: view?.holder ?? false });
  };
  const store: ObjectStore = {
    describe: inner.describe,
    get: (key) => (note('get', key), (key === LEASE_KEY ? getStore : inner).get(key)),
    getOrNull: (key) => (note('get', key), (key === LEASE_KEY ? getStore : inner).getOrNull(key)),
    head: (key) => inner.head(key),
    put: (key, body, options) => (note('put', key), (key === LEASE_KEY ? putStore : inner).put(key, body, options)),
    delete: (key) => inner.delete(key),
    listPage: (prefix, options) => inner.listPage(prefix, options),
    ...(inner.flush ? { flush: () => inner.flush!() } : {}),
  };
  return {
    store,
    calls,
    watch(lease: LeaseView) {
      view = lease;
    },
    denyPutsWith(other: ObjectStore | null) {
      putStore = other ?? inner;
    },
    denyReadsWith(other: ObjectStore | null) {
      getStore = other ?? inner;
    },
    /** The calls since the last `take()`. */
    take(): LeaseCall[] {
      return calls.splice(0);
    },
  };
}
