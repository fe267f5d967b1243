// runtime/preflight.ts
// The restart playbook's preflight (`runtime whatif`): every check a runtime needs before it collects.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Runtime } from './context.ts';
import { nodeMajor } from './context.ts';
import { isBtcError } from './errors.ts';
import { defineSlot } from './local-slots.ts';
import { bytes as formatBytes } from './http/format.ts';
import { CONDITIONAL_WRITES_CHECK, conditionalWritesPreflight } from './conditional-writes.ts';
import { describeLockKind, detectLockKind } from './file-lock.ts';
import { describeClockSkew } from './store/server-clock.ts';
import { clockProbeKey, COLLECTOR_PREFIX } from './keys.ts';

export interface PreflightOptions {
  /** `runtime start`: a symbol the exchange does not list warns (its stream fails alone); `whatif` leaves this off and fails. */
  allowMissingSymbols?: boolean;
}

export interface CheckResult {
  check: string;
  ok: boolean;
  detail: string;
  /** Passed, but worth a look (shown as WARN; does not change the exit code). */
  warn?: boolean;
  /**
   * Not run because a check it needs failed (detail names it). Counted as ok with warn, so one
   * cause is one failure: a refused key pair is not also "bucket missing" and "clock unknown".
   */
  skipped?: boolean;
}

export interface PreflightRecord {
  at: number;
  results: CheckResult[];
}
/** The last preflight of this runtime (`{ at: ms, results }`): written by runPreflight, read by the page (runtime/http/dashboard-data.ts lists its failures while DEBUG). */
export const PREFLIGHT_SLOT = defineSlot<PreflightRecord>('preflight.last');

export const MIN_NODE_MAJOR = 20;
export const MIN_NODE_MINOR = 15;
/** The check `runtime start` does not wait for (see start.ts): its failure is shown, not a reason to stay DEBUG. */
export const CLOCK_CHECK = 'clock sanity';
export const DISK_FREE_CHECK = 'data dir free space';
/** Checks that talk to the primary: skipped when "primary reachable" failed. */
const NEEDS_PRIMARY = 'primary reachable';

/**
 * Runs every check in order (never throws; a failing check is a result with ok: false and a
 * masked detail). Checks that need the primary are skipped when it failed. The results are also
 * kept in runtime.local (PREFLIGHT_SLOT), where the page reads why the runtime stays DEBUG.
 */
export async function runPreflight(runtime: Runtime, options: PreflightOptions = {}): Promise<CheckResult[]> {
  const { loaded, paths, store } = runtime;
  const results: CheckResult[] = [];
  const check = async (name: string, fn: () => Promise<string | { detail: string; warn: boolean }>, needs?: string) => {
    const failedDependency = needs && results.find((r) => r.check === needs && !r.ok);
    if (failedDependency) {
      results.push({ check: name, ok: true, warn: true, skipped: true, detail: `skipped: needs "${needs}", which failed` });
      return;
    }
    try {
      const outcome = await fn();
      results.push(typeof outcome === 'string' ? { check: name, ok: true, detail: outcome } : { check: name, ok: true, ...outcome });
    } catch (err) {
      results.push({ check: name, ok: false, detail: runtime.masker.text(err instanceof Error ? err.message : String(err)) });
    }
  };

  await check('config', async () => `valid (${loaded.file ?? 'defaults only'})`);
  await check('node version', async () => {
    // zlib.crc32 (the bounded unzip) came in 20.15: the floor package.json's engines names.
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    if (nodeMajor() < MIN_NODE_MAJOR || (major === MIN_NODE_MAJOR && minor < MIN_NODE_MINOR)) {
      throw new Error(`node ${process.versions.node} < ${MIN_NODE_MAJOR}.${MIN_NODE_MINOR}`);
    }
    return `node ${process.versions.node}`;
  });
  await check('data dir writable', () => writable(paths.dataDir));
  await check('logs dir writable', () => writable(paths.logsDir));
  await check(DISK_FREE_CHECK, () => diskFreeCheck(runtime));
  // Hard links, or directory locks on FAT/exFAT/SMB (docs/windows.md).
  await check('file locks', async () => describeLockKind(await detectLockKind(paths.dataDir), paths.dataDir), 'data dir writable');
  await check('primary reachable', async () => {
    const probe = await store.probePrimary(runtime.clock.now());
    // The probe's error already says "access denied: check …" for a refused key pair.
    if (!probe.ok) throw new Error(`${store.primary.describe}: ${probe.error}`);
    return `${store.primary.describe} in ${probe.latencyMs} ms`;
  });
  await check('bucket present', async () => {
    try {
      await store.primary.listPage(COLLECTOR_PREFIX, { limit: 1 });
    } catch (err) {
      if (isBtcError(err, 'Unavailable') && /bucket missing/.test(err.message)) {
        throw new Error(`bucket ${loaded.config.storage.s3.bucket} does not exist (run infra/minio/bootstrap.ts)`);
      }
      throw err;
    }
    return store.primary.describe;
  }, NEEDS_PRIMARY);
  await check(CLOCK_CHECK, () => clockSanity(runtime), NEEDS_PRIMARY);
  // The lease and create-only segments are only as safe as the primary's If-None-Match / If-Match.
  await check(CONDITIONAL_WRITES_CHECK, () => conditionalWritesPreflight(runtime), NEEDS_PRIMARY);
  // Imported here: ccxt is heavy and most commands that load this file never check streams.
  await check('collector streams', async () => (await import('./collector/plan.ts')).streamsPreflight(runtime, { allowMissingSymbols: options.allowMissingSymbols }));
  await check('schedules resolvable', async () => `${runtime.schedules.length} schedules → ${[...new Set(runtime.schedules.map((s) => s.fn))].join(', ')}`);
  runtime.local.set(PREFLIGHT_SLOT, { at: runtime.clock.now(), results });
  return results;
}

/** S3 reports LastModified in whole seconds. */
const STORE_TIME_GRANULARITY_MS = 1000;

/**
 * Wall clock vs the primary's clock. On S3 the offset is the one the store learnt from the `Date`
 * header of the probe write's answer (the same number `/health` shows as `clock_skew_ms`, and the
 * one every request is signed with, so a PC far off still gets this far); on a store without one
 * (FsStore) it is read from the LastModified of the probe object. Leases never depend on it (they
 * use the monotonic clock), but keys, dt= partitions and audit times do, so a large skew fails
 * (`preflight.maxClockSkewSeconds`) and a small one warns (`warnClockSkewSeconds`).
 */
async function clockSanity(runtime: Runtime): Promise<{ detail: string; warn: boolean }> {
  const { store, clock, host } = runtime;
  const { maxClockSkewSeconds, warnClockSkewSeconds } = runtime.loaded.config.preflight;
  const key = clockProbeKey(host);
  const before = clock.now();
  await store.primary.put(key, String(before));
  const after = clock.now();
  let skewMs = runtime.clockSkew.reading().skewMs;
  let source = 'Date header';
  if (skewMs === null) {
    const info = await store.primary.head(key);
    if (!info || !Number.isFinite(info.lastModified) || info.lastModified <= 0) {
      await store.primary.delete(key).catch(() => undefined);
      return { detail: `${store.primary.describe} reports no modification time; not checked`, warn: true };
    }
    skewMs = -clockSkewMs(info.lastModified, before, after);
    source = 'LastModified';
  }
  await store.primary.delete(key).catch(() => undefined);
  const seconds = Math.abs(skewMs) / 1000;
  const text = describeClockSkew(skewMs, store.primary.describe);
  const detail = seconds < 1 ? text : `${text} (clock_skew_ms ${skewMs > 0 ? '+' : ''}${skewMs}, from its ${source})`;
  if (seconds > maxClockSkewSeconds) throw new Error(`${detail} (limit ${maxClockSkewSeconds}s): fix the time sync (NTP) on this PC or the NAS`);
  return { detail, warn: seconds > warnClockSkewSeconds };
}

/**
 * How far the store's time lies outside the window [before − granularity, after] of this
 * clock: positive when the store is ahead (this clock behind), 0 when consistent.
 */
export function clockSkewMs(storeTimeMs: number, before: number, after: number): number {
  const lower = before - STORE_TIME_GRANULARITY_MS;
  if (storeTimeMs < lower) return storeTimeMs - lower;
  if (storeTimeMs > after) return storeTimeMs - after;
  return 0;
}

/**
 * The data directory's free space: a warning under `storage.diskFreeWarnBytes`, a failure when
 * nothing is left (every append would be refused with disk_full).
 */
async function diskFreeCheck(runtime: Runtime): Promise<string | { detail: string; warn: boolean }> {
  const reading = await runtime.disk.read();
  if (!reading) return { detail: `${runtime.paths.dataDir}: free space unknown`, warn: true };
  const text = `${formatBytes(reading.free_bytes)} free of ${formatBytes(reading.total_bytes)} at ${runtime.paths.dataDir}`;
  if (reading.free_bytes === 0) throw new Error(`${text}: the disk is full, nothing can be collected`);
  if (reading.low) return { detail: `${text}: under storage.diskFreeWarnBytes (${formatBytes(reading.warn_bytes)})`, warn: true };
  return text;
}

async function writable(dir: string): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const probe = path.join(dir, `.write-probe-${process.pid}`);
  await fsp.writeFile(probe, 'ok');
  await fsp.rm(probe, { force: true });
  return dir;
}
