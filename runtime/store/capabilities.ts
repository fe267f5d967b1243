// runtime/store/capabilities.ts
// Conditional-write capability probe: does the primary refuse the writes the lease and create-only segments rely on it to refuse?

import { withTimeout } from '../async.ts';
import { BtcError, isBtcError, type ErrorCode } from '../errors.ts';
import type { ObjectStore, PutOptions } from './types.ts';
import { conditionalWritesKey } from '../keys.ts';

/** One behaviour the probe found missing: which one, and what the store answered instead. */
export interface MissingBehaviour {
  /** Short name an operator can search the docs for, e.g. `create-only (If-None-Match: *)`. */
  behaviour: string;
  /** What the store did, e.g. `a second create was accepted (want 412)`. */
  answer: string;
}

export interface ConditionalWritesReport {
  /** Every behaviour held. */
  ok: boolean;
  /** Empty when ok, and when the probe could not finish (see `error`). */
  missing: MissingBehaviour[];
  /** The probe did not finish (store unreachable, timed out, refused the key): the capability is unknown, not missing. */
  error?: string;
  /** When the probe ran (caller's clock, ms). */
  at: number;
}

/** An ETag no store gives to the probe's bytes (MD5 of nothing it writes): If-Match on it must be refused. */
const WRONG_ETAG = '00000000000000000000000000000000';

/** The behaviours, as named on /health, the dashboard, `whatif` and docs/storage.md. */
export const BEHAVIOUR = {
  create: 'create on an absent key (If-None-Match: *)',
  createOnly: 'create-only (If-None-Match: *)',
  swap: 'compare-and-swap (If-Match with the current ETag)',
  swapWrongEtag: 'compare-and-swap (If-Match with another ETag)',
  swapMissingKey: 'If-Match on a missing key',
} as const;

/**
 * Probes `health/cas-<host>` on `store` with the store's own `put` (the path the lease and the
 * segments take) and deletes it again, also when a step throws:
 *
 * 1. create-only on the absent key → must succeed;
 * 2. create-only again → must be refused (S3: 412 PreconditionFailed, AWS also 409 ConditionalRequestConflict);
 * 3. If-Match with an ETag the object does not have → must be refused (412 / 409);
 * 4. If-Match with its current ETag → must succeed (a store refusing every If-Match would pass 3 and never renew a lease);
 * 5. delete, then If-Match on the missing key → must be refused (412, or 404 NoSuchKey as MinIO answers).
 *
 * Source: AWS S3 PutObject conditional writes (If-None-Match: `*`, If-Match), the behaviours
 * docs/storage.md relies on. Never throws: an unreachable store gives `{ ok: false, error }`.
 * @param timeoutMs bound on the whole probe (ms); a slower store counts as unreachable.
 */
export async function probeConditionalWrites(store: ObjectStore, host: string, now: number, timeoutMs: number): Promise<ConditionalWritesReport> {
  const key = conditionalWritesKey(host);
  const missing: MissingBehaviour[] = [];
  const put = (body: string, options: PutOptions) => store.put(key, body, { contentType: 'text/plain', ...options });
  const body = (step: number) => `${host} ${now} step ${step}`;
  try {
    await withTimeout(
      (async () => {
        // A key left by a probe killed half-way would make step 1 look like a refusal.
        await store.delete(key);
        const created = await mustAccept(put(body(1), { ifNoneMatch: '*' }), BEHAVIOUR.create, missing);
        await mustRefuse(put(body(2), { ifNoneMatch: '*' }), ['PreconditionFailed'], BEHAVIOUR.createOnly, 'a second create was accepted (want 412)', missing);
        await mustRefuse(put(body(3), { ifMatch: WRONG_ETAG }), ['PreconditionFailed'], BEHAVIOUR.swapWrongEtag, 'the write was accepted (want 412)', missing);
        // Read the ETag back rather than trusting step 1's: a store that let step 2 or 3 through has another one now.
        const current = (await store.head(key))?.etag ?? created?.etag;
        if (current) await mustAccept(put(body(4), { ifMatch: current }), BEHAVIOUR.swap, missing);
        await store.delete(key);
        await mustRefuse(put(body(5), { ifMatch: WRONG_ETAG }), ['PreconditionFailed', 'NotFound'], BEHAVIOUR.swapMissingKey, 'the write was accepted and created the object (want 412 or 404)', missing);
      })(),
      timeoutMs,
      'conditional-write probe',
    );
    return { ok: missing.length === 0, missing, at: now };
  } catch (err) {
    return { ok: false, missing: [], error: err instanceof Error ? err.message : String(err), at: now };
  } finally {
    await store.delete(key).catch(() => undefined);
  }
}

/**
 * One line for /health, the dashboard and `whatif`: `ok`, `missing: <behaviour>, …`,
 * `unknown: <why>` (probe did not finish) or `unknown: not probed yet`.
 */
export function conditionalWritesSummary(report: ConditionalWritesReport | null | undefined): string {
  if (!report) return 'unknown: not probed yet';
  if (report.ok) return 'ok';
  if (report.error !== undefined) return `unknown: ${report.error}`;
  return `missing: ${report.missing.map((m) => m.behaviour).join(', ')}`;
}

/** The long form: each missing behaviour with what the store answered instead. */
export function conditionalWritesDetail(report: ConditionalWritesReport): string {
  return report.missing.map((m) => `${m.behaviour}: ${m.answer}`).join('; ');
}

// ── helpers

/** A step that must go through; a precondition refusal there is a missing behaviour, anything else propagates. */
async function mustAccept<T>(write: Promise<T>, behaviour: string, missing: MissingBehaviour[]): Promise<T | null> {
  try {
    return await write;
  } catch (err) {
    if (!isBtcError(err, 'PreconditionFailed') && !isBtcError(err, 'NotFound')) throw err;
    missing.push({ behaviour, answer: `refused (${answerOf(err)})` });
    return null;
  }
}

/**
 * A step that must be refused with one of `refusedWith`. Accepted, or refused with another
 * answer (e.g. 304 Not Modified, 400, 501), is a missing behaviour; a network failure propagates
 * (Unavailable), so an unreachable store is never reported as a weak one.
 */
async function mustRefuse(write: Promise<unknown>, refusedWith: ErrorCode[], behaviour: string, acceptedAnswer: string, missing: MissingBehaviour[]): Promise<void> {
  try {
    await write;
  } catch (err) {
    if (refusedWith.some((code) => isBtcError(err, code))) return;
    // Unreachable, or these keys may not write here: the capability is unknown, never "missing".
    if (isBtcError(err, 'Unavailable') || !(err instanceof BtcError) || (err.details as { status?: number } | undefined)?.status === 403) throw err;
    missing.push({ behaviour, answer: `answered ${answerOf(err)} (want ${refusedWith.includes('NotFound') ? '412 or 404' : '412'})` });
    return;
  }
  missing.push({ behaviour, answer: acceptedAnswer });
}

function answerOf(err: BtcError): string {
  const details = err.details as { status?: number; s3?: string } | undefined;
  const parts = [details?.status !== undefined ? `S3 ${details.status}` : err.code, details?.s3].filter(Boolean);
  return parts.join(' ');
}
