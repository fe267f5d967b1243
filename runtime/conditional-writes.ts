// runtime/conditional-writes.ts
// Keeps a primary that does not enforce conditional writes out of use for the lease and segments: the preflight check and the re-check after every switch back.

import type { Runtime } from './context.ts';
import { isBtcError } from './errors.ts';
import { conditionalWritesDetail, type ConditionalWritesReport } from './store/capabilities.ts';

/** The preflight check's name (`runtime whatif`, the page's preflight list). */
export const CONDITIONAL_WRITES_CHECK = 'conditional writes';

/** Audit event when the primary is found not to enforce them (after a switch back). */
export const CONDITIONAL_WRITES_EVENT = 'collector.storage.conditional_writes';

const RELEASE_ATTEMPTS = 3;
const RELEASE_SETTLE_MS = 5_000;

/**
 * The preflight check: probes the primary (router.checkConditionalWrites) and returns its detail.
 * @throws Error naming each missing behaviour and what the store answered, or why the probe could
 * not finish; the message holds no secrets (store errors never carry credentials).
 */
export async function conditionalWritesPreflight(runtime: Runtime): Promise<string> {
  const { store } = runtime;
  const report = await store.checkConditionalWrites(runtime.clock.now());
  if (report.ok) return `${store.primary.describe} refuses a second create (If-None-Match: *) and a stale If-Match`;
  throw new Error(failureText(store.primary.describe, report));
}

/** What `whatif`, the log and the audit say about a failed probe. */
export function failureText(primary: string, report: ConditionalWritesReport): string {
  if (report.error !== undefined) return `${primary}: could not probe conditional writes (${report.error})`;
  return (
    `${primary} does not enforce conditional writes: ${conditionalWritesDetail(report)}. ` +
    'The lease and raw segments rely on them (two PCs could both collect); this runtime stays DEBUG. Upgrade the NAS\'s MinIO (docs/storage.md)'
  );
}

export interface ConditionalWritesGuardOptions {
  /** Called after the runtime stepped down (lease released, mode DEBUG): the caller re-runs preflight until the store passes. */
  onSteppedDown(): void;
}

/**
 * After every switch of the router back to the primary, probes it again: the NAS that came back
 * may not be the one that left (restored, downgraded, replaced). When it lacks a behaviour and
 * this runtime may collect (PROD / DIAG, or holds the lease), it stops collecting first (mode
 * DEBUG, so collect-tick skips and the heartbeat never bids), then releases the lease, audits
 * `collector.storage.conditional_writes` and logs an error. A probe that could not finish
 * (primary unreachable again) changes nothing: the router's own probes handle that.
 */
export function guardConditionalWrites(runtime: Runtime, options: ConditionalWritesGuardOptions): void {
  const { store, log } = runtime;
  store.onSwitch((change) => {
    if (change.to !== 'primary') return;
    void store
      .checkConditionalWrites(runtime.clock.now())
      .then(async (report) => {
        if (report.ok || report.error !== undefined) return;
        const why = failureText(store.primary.describe, report);
        const collecting = runtime.mode.get() !== 'DEBUG' || runtime.lease.holder;
        log.error({ primary: store.primary.describe, missing: report.missing }, `${why}${collecting ? '; stopping collection' : ''}`);
        await runtime.audit.record(CONDITIONAL_WRITES_EVENT, { primary: store.primary.describe, missing: report.missing, stepped_down: collecting });
        if (!collecting) return;
        await runtime.mode.set('DEBUG', `primary lacks conditional writes: ${report.missing.map((m) => m.behaviour).join(', ')}`);
        await releaseLease(runtime);
        options.onSteppedDown();
      })
      .catch((err) => log.warn({ err: runtime.masker.text(String(err)) }, 'conditional-write check after switch back failed'));
  });
}

/** Gives the lease up through leader-heartbeat (one in-flight run per name: waits out a running beat). */
async function releaseLease(runtime: Runtime): Promise<void> {
  if (!runtime.invoker.has('leader-heartbeat')) return;
  for (let attempt = 1; runtime.lease.holder && attempt <= RELEASE_ATTEMPTS; attempt++) {
    try {
      await runtime.invoker.invoke('leader-heartbeat', { action: 'release' }, 'internal');
    } catch (err) {
      if (!isBtcError(err, 'Busy')) throw err;
      await runtime.invoker.settle(RELEASE_SETTLE_MS);
    }
  }
}
