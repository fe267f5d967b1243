// runtime/http/records-today.ts
// "Records today" on the stream cards: records in today's raw segments per stream, counted incrementally from keys.

import { isoDate } from '../clock.ts';
import { streamPrefix, type StreamId } from '../streams.ts';
import type { ObjectStore } from '../store/types.ts';

/** A stream-day is looked at again at most this often; a page refresh in between costs nothing. */
const RECOUNT_AFTER_MS = 10_000;
const SEGMENT_NAME = /\/(\d{6})-(\d{12})\.jsonl$/;

interface EpochSpan {
  firstSeq: number;
  lastFirstSeq: number;
  lastKey: string;
  /** Records in the segment at lastKey (read once per new last segment). */
  lastRecords: number;
}

interface StreamDay {
  day: string;
  /** Listing resumes after this key: segments are immutable and keys grow, so only new ones are listed. */
  lastKey: string | undefined;
  epochs: Map<number, EpochSpan>;
  countedAt: number;
  total: number;
}

/**
 * Counts the records of today's (UTC) raw segments per stream without reading them all: seq is
 * gap-free inside one epoch, so an epoch's records are (last segment's firstSeq − first
 * segment's firstSeq) + the lines of its last segment. Each refresh lists only keys after the
 * last one seen and reads at most the newest segment per epoch; results are kept RECOUNT_AFTER_MS.
 */
export class RecordsToday {
  private readonly store: ObjectStore;
  private readonly days = new Map<string, StreamDay>();

  constructor(store: ObjectStore) {
    this.store = store;
  }

  /** Records today per stream, keyed by streamKeyOf(); a stream whose count fails is left out. */
  async counts(streams: StreamId[], now: number): Promise<Map<string, number>> {
    const day = isoDate(now);
    const out = new Map<string, number>();
    for (const id of streams) {
      const key = streamKeyOf(id);
      if (out.has(key)) continue;
      try {
        out.set(key, await this.count(id, day, now));
      } catch {
        // Unreadable now (primary slow or down): the card shows "—" rather than a wrong number.
      }
    }
    return out;
  }

  private async count(id: StreamId, day: string, now: number): Promise<number> {
    const key = streamKeyOf(id);
    let state = this.days.get(key);
    if (!state || state.day !== day) {
      state = { day, lastKey: undefined, epochs: new Map(), countedAt: 0, total: 0 };
      this.days.set(key, state);
    }
    if (now - state.countedAt < RECOUNT_AFTER_MS) return state.total;
    const prefix = `${streamPrefix(id)}dt=${day}/`;
    const changed = new Set<number>();
    for (;;) {
      const page = await this.store.listPage(prefix, { startAfter: state.lastKey, etags: false });
      for (const info of page.objects) {
        const match = SEGMENT_NAME.exec(info.key);
        if (!match) continue;
        const epoch = Number(match[1]);
        const firstSeq = Number(match[2]);
        const span = state.epochs.get(epoch);
        if (!span) state.epochs.set(epoch, { firstSeq, lastFirstSeq: firstSeq, lastKey: info.key, lastRecords: 0 });
        else if (firstSeq > span.lastFirstSeq) Object.assign(span, { lastFirstSeq: firstSeq, lastKey: info.key });
        changed.add(epoch);
        state.lastKey = info.key;
      }
      if (!page.nextStartAfter) break;
    }
    for (const epoch of changed) {
      const span = state.epochs.get(epoch)!;
      const got = await this.store.getOrNull(span.lastKey);
      span.lastRecords = got ? got.body.toString('utf8').split('\n').filter((line) => line.trim() !== '').length : 0;
    }
    state.total = [...state.epochs.values()].reduce((sum, s) => sum + (s.lastFirstSeq - s.firstSeq) + s.lastRecords, 0);
    state.countedAt = now;
    return state.total;
  }
}

export function streamKeyOf(id: StreamId): string {
  return `${id.exchange}/${id.topic}/${id.symbol}`;
}
