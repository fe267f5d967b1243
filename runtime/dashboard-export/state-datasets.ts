// runtime/dashboard-export/state-datasets.ts
// slippage and ev_history from the state archive and the current states; parsed loosely, bad objects reported.

import { z } from 'zod';
import { listAll, type ObjectStore } from '../store/types.ts';
import { mapLimit } from '../async.ts';
import { READ_CONCURRENCY } from './raw-objects.ts';
import { ARCHIVE_KEY_PATTERN, STATE_ARCHIVE_PREFIX, STATE_KEY_PATTERN, STATE_PREFIX } from '../keys.ts';

/** Params of each dataset: `ev_…`/`ev.…` and `slippage_…`/`slippage.…`. */
export const PARAM_PATTERNS = { ev_history: /^ev[._]/, slippage: /^slippage[._]/ } as const;
export type StateDatasetName = keyof typeof PARAM_PATTERNS;

const num = z.number().refine(Number.isFinite);
// Only the fields this export relies on; everything else the state-update duty adds passes through.
const changeSchema = z.looseObject({ param: z.string().optional(), name: z.string().optional(), from: num.nullish(), to: num.nullish() });
const archiveSchema = z.looseObject({
  status: z.string(),
  diff: z.looseObject({ updated: z.array(z.unknown()).optional() }).nullish(),
});
const stateSchema = z.looseObject({ updated_at: z.union([z.string(), z.number()]).optional(), params: z.record(z.string(), z.unknown()).optional() });

export interface StateRow {
  source: 'archive' | 'state';
  key: string;
  strategy: string;
  symbol: string;
  mode: string;
  /** The `<ts>` of the archive key, or the state's updated_at. */
  ts: string;
  /** Decision status of an archived diff (`applied|preview|blocked`); `current` for a state.json. */
  status: string;
  params: Record<string, { from: number | null; to: number | null }>;
}

export interface Skipped {
  key: string;
  reason: string;
}

interface Parsed {
  base: Omit<StateRow, 'params'>;
  /** Every numeric param the object names, before filtering per dataset. */
  params: Record<string, { from: number | null; to: number | null }>;
}

/** Reads the archive and the states once; both datasets filter the same parsed objects. */
export async function readStateObjects(store: ObjectStore): Promise<{ parsed: Parsed[]; skipped: Skipped[] }> {
  const keys: Array<{ key: string; m: RegExpExecArray; kind: 'archive' | 'state' }> = [];
  for await (const o of listAll(store, STATE_ARCHIVE_PREFIX)) {
    const m = ARCHIVE_KEY_PATTERN.exec(o.key);
    if (m) keys.push({ key: o.key, m, kind: 'archive' });
  }
  for await (const o of listAll(store, STATE_PREFIX)) {
    const m = STATE_KEY_PATTERN.exec(o.key);
    if (m) keys.push({ key: o.key, m, kind: 'state' });
  }
  const skipped: Skipped[] = [];
  const parsed = await mapLimit(keys, READ_CONCURRENCY, async ({ key, m, kind }): Promise<Parsed | null> => {
    const body = await store.getOrNull(key);
    if (!body) return null; // deleted (pruned) while we listed
    let doc: unknown;
    try {
      doc = JSON.parse(body.body.toString('utf8'));
    } catch {
      skipped.push({ key, reason: 'not valid JSON' });
      return null;
    }
    const [, strategy, symbol, mode, ts] = m;
    if (kind === 'archive') {
      const r = archiveSchema.safeParse(doc);
      if (!r.success) {
        skipped.push({ key, reason: describeIssues(r.error) });
        return null;
      }
      const params: Parsed['params'] = {};
      for (const entry of r.data.diff?.updated ?? []) {
        const c = changeSchema.safeParse(entry);
        const name = c.success ? (c.data.param ?? c.data.name) : undefined;
        if (c.success && name) params[name] = { from: c.data.from ?? null, to: c.data.to ?? null };
      }
      return { base: { source: 'archive', key, strategy: strategy!, symbol: symbol!, mode: mode!, ts: ts!, status: r.data.status }, params };
    }
    const r = stateSchema.safeParse(doc);
    if (!r.success) {
      skipped.push({ key, reason: describeIssues(r.error) });
      return null;
    }
    const params: Parsed['params'] = {};
    for (const [name, value] of Object.entries(r.data.params ?? {})) {
      if (typeof value === 'number' && Number.isFinite(value)) params[name] = { from: null, to: value };
    }
    const updated = r.data.updated_at;
    const tsText = typeof updated === 'number' ? new Date(updated).toISOString() : (updated ?? '');
    return { base: { source: 'state', key, strategy: strategy!, symbol: symbol!, mode: mode!, ts: tsText, status: 'current' }, params };
  });
  return { parsed: parsed.filter((p): p is Parsed => p !== null), skipped: skipped.sort((a, b) => (a.key < b.key ? -1 : 1)) };
}

/** Rows of one dataset: every archived diff or state that names at least one of its params. */
export function stateDatasetRows(name: StateDatasetName, parsed: Parsed[]): StateRow[] {
  const pattern = PARAM_PATTERNS[name];
  const rows: StateRow[] = [];
  for (const p of parsed) {
    const params = Object.fromEntries(Object.entries(p.params).filter(([param]) => pattern.test(param)));
    if (Object.keys(params).length > 0) rows.push({ ...p.base, params });
  }
  // Per (strategy, symbol, mode): the archived decisions in time order, then the current state.
  const order = (r: StateRow) => [r.strategy, r.symbol, r.mode, r.source, r.key].join('\u0000');
  return rows.sort((a, b) => (order(a) < order(b) ? -1 : order(a) > order(b) ? 1 : 0));
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
}
