// runtime/http/records-today.ts
// "Records today" on the stream cards: records in today's raw segments per stream, counted incrementally from keys.

import { isoDate } from '../clock.ts';
import type { StreamId } from '../streams.ts';
import type { ObjectStore } from '../store/types.ts';
import { streamDayPrefix } from '../keys.ts';

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
  /** The count running now: a refresh that finds one waits for it instead of listing the same keys again. */
  inFlight: Promise<number> | null;
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

  /**
   * Records today per stream, keyed by streamKeyOf(); streams are counted in parallel. A stream whose
   * count fails keeps its last count of today (or is left out: the card shows "—" rather than a
   * wrong number).
   */
  async counts(streams: StreamId[], now: number): Promise<Map<string, number>> {
    const day = isoDate(now);
    const out = new Map<string, number>();
    const unique = [...new Map(streams.map((s) => [streamKeyOf(s), s])).values()];
    await Promise.all(
      unique.map(async (id) => {
        try {
          out.set(streamKeyOf(id), await this.count(id, day, now));
        } catch {
          const last = this.lastKnown([id], now).get(streamKeyOf(id));
          if (last !== undefined) out.set(streamKeyOf(id), last);
        }
      }),
    );
    return out;
  }

  /**
   * Today's last finished counts, without touching the store: what the page shows when a count does
   * not finish within its deadline (a first count of a long day lists many keys; it goes on and the
   * next refresh has it).
   */
  lastKnown(streams: StreamId[], now: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const id of streams) {
      const state = this.days.get(streamKeyOf(id));
      if (state && state.day === isoDate(now) && state.countedAt > 0) out.set(streamKeyOf(id), state.total);
    }
    return out;
  }

  private count(id: StreamId, day: string, now: number): Promise<number> {
    const key = streamKeyOf(id);
    let state = this.days.get(key);
    if (!state || state.day !== day) {
      state = { day, lastKey: undefined, epochs: new Map(), countedAt: 0, total: 0, inFlight: null };
      this.days.set(key, state);
    }
    if (now - state.countedAt < RECOUNT_AFTER_MS) return Promise.resolve(state.total);
    if (state.inFlight) return state.inFlight;
    const s = state;
    s.inFlight = this.recount(id, s, now).finally(() => {
      s.inFlight = null;
    });
    return s.inFlight;
  }

  private async recount(id: StreamId, state: StreamDay, now: number): Promise<number> {
    const day = state.day;
    const prefix = streamDayPrefix(id, day);
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
