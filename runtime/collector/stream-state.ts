// runtime/collector/stream-state.ts
// What the collector remembers about each stream in this process: its state, its cursor loaded once per epoch, its status row.

import type { FnContext } from '../define.ts';
import { BtcError } from '../errors.ts';
import { symbolKey } from '../keys.ts';
import { defineSlot, type LocalSlots } from '../local-slots.ts';
import type { StreamStatus } from '../status.ts';
import type { StreamId } from '../streams.ts';
import { emptyCursor, loadCursor, reconcileWithRaw, type Cursor } from './cursors.ts';
import { backoffMs, type ClassifiedFailure, type FailureClass } from './errors.ts';
import type { Freshness } from './freshness.ts';
import type { StreamTask } from './topics.ts';

/** What the collector remembers about one stream inside this process (the cursor itself lives in the store). */
export interface StreamState {
  failures: number;
  cause: FailureClass | null;
  lastError: string | null;
  retryAtMonotonicMs: number;
  nextDueMonotonicMs: number;
  lastOkMs: number | null;
  /** A fetch that outlived its timeout and has not settled; the stream waits for it. */
  inFlight: boolean;
  cursor: Cursor | null;
  /** Epoch the cursor was loaded (and reconciled) for. */
  cursorEpoch: number | null;
  cursorDirty: boolean;
  notes: string[];
  /** Notes that stay until replaced (unfillable and suspected gaps). */
  stickyNotes: string[];
  /** Whether the stream's data still moves (freshness.ts). */
  freshness?: Freshness;
  /** What a fetcher keeps between ticks (the order book's last update id). */
  memory?: Map<string, unknown>;
  /** The last fetch was committed but reported a problem (a suspected gap): not ok until a clean fetch. */
  problem?: { cause: string; message: string } | null;
  /** ws streams (ticker, ohlcv): the latest CSV as of their last append; the tick writes it after shipping. */
  wsLatestCsv?: string | null;
}

/** Stream name → its collector state: made by streamStates, written by collect ticks and the WebSocket runners, read by status rows, tests and benchmarks. */
const STREAMS_SLOT = defineSlot<Map<string, StreamState>>('collector:streams');
/** Only the stream's identity: RawStreams copies every field of it into each record. */
export const streamIdOf = (t: StreamId): StreamId => ({ exchange: t.exchange, topic: t.topic, symbol: t.symbol });

export const streamName = (t: StreamId) => `${t.exchange}/${t.topic}/${symbolKey(t.symbol)}`;

/** Every stream's collector state in this runtime (made empty on first use). */
export function streamStates(local: LocalSlots): Map<string, StreamState> {
  return local.ensure(STREAMS_SLOT, () => new Map());
}

/** Loads the stream's cursor from the store once per epoch and reconciles it with the newest raw segments. */
export async function ensureCursor(ctx: FnContext, task: StreamTask, state: StreamState, epoch: number): Promise<void> {
  if (state.cursor && state.cursorEpoch === epoch) return;
  if (task.topic !== 'trades' && task.topic !== 'ohlcv') {
    state.cursor = emptyCursor(epoch, ctx.host);
    state.cursorEpoch = epoch;
    return;
  }
  // Ship whatever this epoch's local log still holds first, so the reconcile below sees it.
  await ctx.streams.append(streamIdOf(task), epoch, []);
  await ctx.streams.ship(ctx.store);
  // The reconcile below reads the store: with this stream's segments still local it would rewind.
  if (ctx.streams.shipFailed(streamIdOf(task))) {
    throw new BtcError('Unavailable', `${streamName(task)}: its raw segments could not be uploaded yet; the cursor is loaded once they are`);
  }
  const stored = (await loadCursor(ctx.store, task)) ?? emptyCursor(epoch, ctx.host);
  // Within this process the in-memory cursor is newest; the store's matters when none is held yet.
  const base = state.cursor && (state.cursor.last_id ?? -1) >= (stored.last_id ?? -1) && (state.cursor.last_ts ?? -1) >= (stored.last_ts ?? -1) ? state.cursor : stored;
  state.cursor = await reconcileWithRaw(ctx.store, task, base);
  state.cursorDirty = state.cursor.last_id !== stored.last_id || state.cursor.last_ts !== stored.last_ts;
  state.cursorEpoch = epoch;
}

/** One more failure of the stream: its cause, message and the monotonic time of its next attempt (backoff, capped). */
export function recordFailure(state: StreamState, failure: ClassifiedFailure, nowMonotonic: number, capMs: number): void {
  state.failures++;
  state.cause = failure.cls;
  state.lastError = failure.message;
  state.retryAtMonotonicMs = nowMonotonic + backoffMs(state.failures, failure, capMs);
}

/** The stream's row in the status object (notes: sticky, latest, the error, the next attempt). */
export function statusRow(task: StreamTask, state: StreamState, nowMonotonic: number): StreamStatus {
  const notes = [...state.stickyNotes, ...state.notes];
  if (state.lastError) notes.push(`${state.cause}: ${state.lastError}`);
  if (state.problem && !state.lastError) notes.push(`${state.problem.cause}: ${state.problem.message}`);
  if (state.retryAtMonotonicMs > nowMonotonic) notes.push(`next attempt in ${Math.round(state.retryAtMonotonicMs - nowMonotonic)} ms`);
  return {
    exchange: task.exchange,
    topic: task.topic,
    symbol: task.symbol,
    ok: state.failures === 0 && state.lastOkMs !== null && !state.problem,
    cause: state.cause ?? state.problem?.cause ?? null,
    retries: state.failures,
    last_ok_ms: state.lastOkMs,
    notes,
  };
}

/** The stream's state, made empty on first use. */
export function stateFor(states: Map<string, StreamState>, name: string): StreamState {
  let state = states.get(name);
  if (!state) {
    state = {
      failures: 0, cause: null, lastError: null, retryAtMonotonicMs: 0, nextDueMonotonicMs: 0, lastOkMs: null, inFlight: false,
      cursor: null, cursorEpoch: null, cursorDirty: false, notes: [], stickyNotes: [],
    };
    states.set(name, state);
  }
  return state;
}
