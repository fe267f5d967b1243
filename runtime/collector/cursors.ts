// runtime/collector/cursors.ts
// Where each stream stopped (last trade id, last candle), kept in the store so a new leader continues from there.

import type { StreamId } from '../streams.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { cursorKey, datePartitionStart, streamPrefix } from '../keys.ts';

export interface TradeGap {
  /** First and last missing id (inclusive). */
  from: number;
  to: number;
  detected_at: number;
  /** Back-fill attempts so far (one per tick). */
  attempts: number;
}

export interface Cursor {
  /** Last stored trade id (exchanges with sequential numeric ids). */
  last_id: number | null;
  /** Exchange time of the last stored datum: trade time, or open time of the last closed candle. */
  last_ts: number | null;
  /** Ids stored at `last_ts` (exchanges without sequential ids de-duplicate at the boundary with these). */
  ids_at_last_ts: string[];
  /** Holes in the id sequence still being back-filled. */
  gaps: TradeGap[];
  /** The exchange's own paging cursor from its last answer (Kraken's `last`); null: page by `last_ts`. */
  page_cursor: string | null;
  /** Last fill (real trade id) of the newest stored aggregate trade (Binance `l`). */
  last_fill_id: number | null;
  epoch: number;
  host: string;
  updated_at: string;
}

export const emptyCursor = (epoch: number, host: string): Cursor => ({
  last_id: null,
  last_ts: null,
  ids_at_last_ts: [],
  gaps: [],
  page_cursor: null,
  last_fill_id: null,
  epoch,
  host,
  updated_at: new Date(0).toISOString(),
});

export async function loadCursor(store: ObjectStore, id: StreamId): Promise<Cursor | null> {
  const got = await store.getOrNull(cursorKey(id));
  if (!got) return null;
  const parsed = JSON.parse(got.body.toString('utf8')) as Partial<Cursor>;
  return { ...emptyCursor(0, ''), ...parsed, gaps: parsed.gaps ?? [], ids_at_last_ts: parsed.ids_at_last_ts ?? [] };
}

export async function saveCursor(store: ObjectStore, id: StreamId, cursor: Cursor): Promise<void> {
  await store.put(cursorKey(id), JSON.stringify(cursor), { contentType: 'application/json' });
}

/** Segments looked at when reconciling: the newest few hold the newest data. */
const RECONCILE_SEGMENTS = 3;
const SEGMENT_NAME = /\/(\d{6})-(\d{12})\.jsonl$/;

/**
 * The cursor is written after the segments are shipped, so a holder that died between the two
 * leaves raw objects newer than its cursor. Reading the newest segments moves the cursor past them,
 * so the next holder neither repeats nor skips those trades.
 */
export async function reconcileWithRaw(store: ObjectStore, id: StreamId, cursor: Cursor): Promise<Cursor> {
  const prefix = datePartitionStart(streamPrefix(id));
  const startAfter = cursor.last_ts !== null ? `${prefix}${new Date(cursor.last_ts).toISOString().slice(0, 10)}` : undefined;
  const newest: Array<{ key: string; rank: number }> = [];
  for await (const info of startAfter ? listFrom(store, prefix, startAfter) : listAll(store, prefix)) {
    const match = SEGMENT_NAME.exec(info.key);
    if (!match) continue;
    newest.push({ key: info.key, rank: Number(match[1]) * 1e12 + Number(match[2]) });
    newest.sort((a, b) => b.rank - a.rank);
    newest.length = Math.min(newest.length, RECONCILE_SEGMENTS);
  }
  const next = structuredClone(cursor);
  const before = { last_id: next.last_id, last_ts: next.last_ts };
  for (const { key } of newest) {
    const got = await store.getOrNull(key);
    if (!got) continue;
    for (const line of got.body.toString('utf8').split('\n')) {
      if (!line) continue;
      const record = JSON.parse(line) as { ts: number; data: { id?: string | number } };
      const tradeId = record.data?.id !== undefined ? Number(record.data.id) : NaN;
      if (Number.isSafeInteger(tradeId)) {
        if (next.last_id === null || tradeId > next.last_id) {
          next.last_id = tradeId;
          next.last_ts = record.ts;
        }
      } else if (id.topic === 'ohlcv' && (next.last_ts === null || record.ts > next.last_ts)) next.last_ts = record.ts;
    }
  }
  // The exchange's cursor is older than what the store holds: page from last_ts instead.
  if (next.last_id !== before.last_id || next.last_ts !== before.last_ts) next.page_cursor = null;
  return next;
}

async function* listFrom(store: ObjectStore, prefix: string, startAfter: string) {
  let after: string | undefined = startAfter;
  for (;;) {
    const page = await store.listPage(prefix, { startAfter: after, limit: 1000 });
    yield* page.objects;
    if (!page.nextStartAfter) return;
    after = page.nextStartAfter;
  }
}
