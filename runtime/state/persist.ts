// runtime/state/persist.ts
// Reads and writes state.json (fingerprint-checked, conditional), the override flag and archived diffs.

import { BtcError, isBtcError } from '../errors.ts';
import type { ObjectStore } from '../store/types.ts';
import {
  DEFAULT_OVERRIDE,
  overrideSchema,
  STATE_VERSION,
  stateSchema,
  type ArchivedDiff,
  type OverrideFlag,
  type StateTarget,
  type StrategyState,
} from './model.ts';
import { archiveKey, OVERRIDE_KEY, stateKey } from '../keys.ts';

export interface LoadedState {
  /** Null when the target has no state yet. */
  state: StrategyState | null;
  /** ETag of state.json as read: the precondition of the write that replaces it (null = create). */
  etag: string | null;
}

export interface LoadStateOptions {
  /** Accept a state of another fingerprint or version as "to be replaced" instead of refusing it (--reset). */
  reset?: boolean;
}

/**
 * Loads the current state of a target. A state built under another config (config_fingerprint
 * differs) or another layout (version) is refused: an old state is never reused after a
 * config change (seed 003). With `reset`, its ETag is kept so the new state can replace it.
 */
export async function loadState(store: ObjectStore, target: StateTarget, fingerprint: string, options: LoadStateOptions = {}): Promise<LoadedState> {
  const key = stateKey(target);
  const found = await store.getOrNull(key);
  if (!found) return { state: null, etag: null };
  if (options.reset) return { state: null, etag: found.etag };
  let raw: unknown;
  try {
    raw = JSON.parse(found.body.toString('utf8'));
  } catch {
    throw new BtcError('Conflict', `${key} is not valid JSON; refusing to use it (run with --reset to re-estimate from all fills)`, { details: { key } });
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if (version !== STATE_VERSION) {
    throw new BtcError('Conflict', `${key} has state version ${JSON.stringify(version)}, this build reads version ${STATE_VERSION}; refusing to load it (run with --reset to rebuild it)`, {
      details: { key, version },
    });
  }
  const stored = (raw as { config_fingerprint?: unknown }).config_fingerprint;
  if (stored !== fingerprint) {
    throw new BtcError(
      'Conflict',
      `config_fingerprint mismatch for ${key}: the state was built with ${String(stored).slice(0, 12)}…, the current config of strategy ${target.strategy} is ${fingerprint.slice(0, 12)}…; ` +
        'an old state is never reused after a config change — restore the old config, or run with --reset to re-estimate from all fills',
      { details: { key, state_fingerprint: stored, config_fingerprint: fingerprint } },
    );
  }
  const parsed = stateSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new BtcError('Conflict', `${key} does not match the state schema (${problems}); refusing to load it`, { details: { key, issues: parsed.error.issues } });
  }
  return { state: parsed.data, etag: found.etag };
}

/**
 * Writes the new state only if state.json is still what was read (ifMatch / create-only), so
 * two updates planned from the same state can never both apply. Returns false when it lost.
 */
export async function writeStateIfUnchanged(store: ObjectStore, state: StrategyState, readEtag: string | null): Promise<boolean> {
  const key = stateKey(state);
  const body = JSON.stringify(state, null, 2) + '\n';
  try {
    await store.put(key, body, { contentType: 'application/json', ...(readEtag === null ? { ifNoneMatch: '*' as const } : { ifMatch: readEtag }) });
    return true;
  } catch (err) {
    // NotFound: the state we read was deleted meanwhile — also "not what we planned from".
    if (isBtcError(err, 'PreconditionFailed') || isBtcError(err, 'NotFound')) return false;
    throw err;
  }
}

/** How many ms an archive name may be pushed forward when two runs archive in the same ms. */
const ARCHIVE_NAME_ATTEMPTS = 50;

/** Writes `<ts>_diff.json` create-only; an existing name moves on by 1 ms, so nothing is overwritten. */
export async function writeArchivedDiff(store: ObjectStore, target: StateTarget, atMs: number, diff: ArchivedDiff): Promise<string> {
  const body = JSON.stringify(diff, null, 2) + '\n';
  for (let i = 0; i < ARCHIVE_NAME_ATTEMPTS; i++) {
    const key = archiveKey(target, atMs + i);
    try {
      await store.put(key, body, { ifNoneMatch: '*', contentType: 'application/json' });
      return key;
    } catch (err) {
      if (!isBtcError(err, 'PreconditionFailed')) throw err;
    }
  }
  throw new BtcError('Conflict', `could not find a free archive name near ${archiveKey(target, atMs)}`);
}

export interface LoadedOverride {
  flag: OverrideFlag;
  etag: string | null;
}

export async function readOverride(store: ObjectStore): Promise<LoadedOverride> {
  const found = await store.getOrNull(OVERRIDE_KEY);
  if (!found) return { flag: DEFAULT_OVERRIDE, etag: null };
  let raw: unknown;
  try {
    raw = JSON.parse(found.body.toString('utf8'));
  } catch {
    raw = undefined;
  }
  const parsed = overrideSchema.safeParse(raw);
  // An unreadable flag must not silently re-enable automatic adjustment: treat it as disabled.
  if (!parsed.success) return { flag: { status: 'disabled', reason: `unreadable ${OVERRIDE_KEY}; fix or re-set it`, at: null, actor: null }, etag: found.etag };
  return { flag: parsed.data, etag: found.etag };
}

/** Replaces the override flag only if nobody changed it since it was read. */
export async function writeOverride(store: ObjectStore, flag: OverrideFlag, readEtag: string | null): Promise<void> {
  const body = JSON.stringify(flag, null, 2) + '\n';
  try {
    await store.put(OVERRIDE_KEY, body, { contentType: 'application/json', ...(readEtag === null ? { ifNoneMatch: '*' as const } : { ifMatch: readEtag }) });
  } catch (err) {
    if (isBtcError(err, 'PreconditionFailed') || isBtcError(err, 'NotFound')) {
      throw new BtcError('Conflict', `${OVERRIDE_KEY} changed while it was being set; read it again (runtime state override status) and retry`);
    }
    throw err;
  }
}
