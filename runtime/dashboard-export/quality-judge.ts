// runtime/dashboard-export/quality-judge.ts
// Counting one stream's day: slots of polled topics and candles, id continuity of trades, each hole named by the audit event over it.

import type { AuditGap, Gap, GapKind } from './quality-gaps.ts';
import type { RawLine } from './raw-objects.ts';

/** What a stream's coverage counts: polled ticks, closed candles or trade ids. */
export type CoverageUnit = 'ticks' | 'candles' | 'trade_ids';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** One stream's day as judged: expected and seen units, their ratio (null: cannot be known), the gaps. */
export interface Judged {
  unit: CoverageUnit;
  expected: number;
  seen: number;
  ratio: number | null;
  gaps: Gap[];
  note?: string;
}

/**
 * Slot counting for polled topics (slot = poll period, by ingest time) and candles (slot = timeframe,
 * by open time; only candles closed before the window's end are expected). An empty slot next to a
 * slot holding two records is a late or early poll, not a miss. Runs of empty slots are gaps: of the
 * kind an audit window over them says, else `missed`.
 */
export function judgeSlots(name: string, unit: 'ticks' | 'candles', times: number[], stepMs: number, events: AuditGap[], from: number, to: number, closedOnly: boolean): Judged {
  const slots = Math.max(0, Math.floor((to - from) / stepMs));
  const counts = new Uint32Array(slots);
  for (const t of times) {
    const i = Math.floor((t - from) / stepMs);
    if (i >= 0 && i < slots) counts[i]!++;
  }
  const filled = new Uint8Array(slots);
  for (let i = 0; i < slots; i++) {
    if (counts[i]! > 0) filled[i] = 1;
    else if (!closedOnly && ((i > 0 && counts[i - 1]! > 1) || (i + 1 < slots && counts[i + 1]! > 1))) filled[i] = 1;
  }
  const timed = events.filter((e) => e.fromMs !== null && e.toMs !== null);
  const none = timed.filter((e) => e.kind === 'exchange_had_none');
  const slotStart = (i: number) => from + i * stepMs;
  const excluded = (i: number) => none.some((e) => slotStart(i) + stepMs > e.fromMs! && slotStart(i) <= e.toMs!);
  const gaps: Gap[] = [];
  let expected = 0;
  let seen = 0;
  for (let i = 0; i < slots; ) {
    if (filled[i]) {
      expected++;
      seen++;
      i++;
      continue;
    }
    let j = i;
    while (j < slots && !filled[j]) j++;
    const a = slotStart(i);
    const b = slotStart(j); // end of the run (exclusive)
    const over = timed.find((e) => e.toMs! >= a && e.fromMs! < b);
    const kind: GapKind = over?.kind ?? 'missed';
    for (let k = i; k < j; k++) if (!excluded(k)) expected++;
    gaps.push({ stream: name, kind, from: iso(a), to: iso(b), from_id: null, to_id: null, missing: j - i, source: over?.event ?? 'data' });
    i = j;
  }
  // Audit windows that matched no empty run (a suspected jump inside data that looks whole) are listed as they are.
  for (const e of timed) {
    if (gaps.some((g) => g.source === e.event && Date.parse(g.from!) <= e.toMs! && Date.parse(g.to!) >= e.fromMs!)) continue;
    if (e.toMs! < from || e.fromMs! >= to) continue;
    gaps.push({ stream: name, kind: e.kind, from: iso(e.fromMs), to: iso(e.toMs), from_id: null, to_id: null, missing: e.count, source: e.event });
  }
  gaps.sort((x, y) => (x.from ?? '').localeCompare(y.from ?? ''));
  return { unit, expected, seen, ratio: expected === 0 ? 1 : round(seen / expected), gaps };
}

/**
 * Id continuity: every id between the day's first and last trade is expected. Holes are gaps —
 * `unfillable` when the collector declared them so, `suspected` when it detected them and the
 * back-fill never finished, `missed` when nothing recorded them at all.
 */
export function judgeTrades(name: string, records: RawLine[], events: AuditGap[], from: number, to: number): Judged {
  const trades = records
    .filter((r) => r.ts >= from && r.ts < to)
    .map((r) => ({ ts: r.ts, id: Number((r.data as { id?: unknown } | null)?.id) }));
  const idEvents = events.filter((e) => e.fromId !== null && e.toId !== null);
  const listEvents = (gaps: Gap[]) => {
    for (const e of idEvents) {
      // A hole in the data already stands for every event about it (detected, then unfillable).
      if (gaps.some((g) => g.from_id !== null && g.from_id <= e.toId! && g.to_id! >= e.fromId!)) continue;
      gaps.push({ stream: name, kind: e.kind, from: null, to: null, from_id: e.fromId, to_id: e.toId, missing: e.count ?? e.toId! - e.fromId! + 1, source: e.event });
    }
  };
  if (trades.length === 0) {
    const gaps: Gap[] = [{ stream: name, kind: 'missed', from: iso(from), to: iso(to), from_id: null, to_id: null, missing: null, source: 'data' }];
    listEvents(gaps);
    return { unit: 'trade_ids', expected: 0, seen: 0, ratio: 0, gaps, note: 'no trade recorded in the window' };
  }
  if (!trades.every((t) => Number.isSafeInteger(t.id))) {
    return { unit: 'trade_ids', expected: 0, seen: trades.length, ratio: null, gaps: [], note: 'trade ids are not sequential numbers: id continuity cannot be judged' };
  }
  const byId = new Map<number, number>();
  for (const t of trades) byId.set(t.id, t.ts);
  const ids = [...byId.keys()].sort((a, b) => a - b);
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  const gaps: Gap[] = [];
  for (let k = 1; k < ids.length; k++) {
    const a = ids[k - 1]!;
    const b = ids[k]!;
    if (b === a + 1) continue;
    const hole = { from: a + 1, to: b - 1 };
    const over = idEvents.find((e) => e.fromId! <= hole.to && e.toId! >= hole.from && e.kind !== 'suspected') ?? idEvents.find((e) => e.fromId! <= hole.to && e.toId! >= hole.from);
    gaps.push({
      stream: name,
      kind: over?.kind ?? 'missed',
      from: iso(byId.get(a)!),
      to: iso(byId.get(b)!),
      from_id: hole.from,
      to_id: hole.to,
      missing: hole.to - hole.from + 1,
      source: over?.event ?? 'data',
    });
  }
  listEvents(gaps);
  gaps.sort((x, y) => (x.from_id ?? 0) - (y.from_id ?? 0));
  const expected = last - first + 1;
  return { unit: 'trade_ids', expected, seen: ids.length, ratio: round(ids.length / expected), gaps };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;
