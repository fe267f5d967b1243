// runtime/collector/ws/runner.ts
// What every ws stream shares: the reconnect loop with backoff, silent-socket detection, lease fencing, stop.

import type { Exchange } from 'ccxt';
import { backoffDelay, sleep, timeout } from '../../async.ts';
import type { FnContext } from '../../define.ts';
import { BadData } from '../errors.ts';
import type { ExchangePool } from '../exchanges.ts';
import { streamName, type StreamState } from '../stream-state.ts';
import type { StreamTask } from '../topics.ts';
import { WsStats } from './stats.ts';

export interface WsSettings {
  /** A socket with no message for this long (ms) is dead: closed and reconnected. */
  silentMs: number;
  /** Reconnect backoff cap (ms). */
  backoffMaxMs: number;
  /** Ids per REST back-fill page. */
  pageLimit: number;
  exchangeUrl: string | undefined;
  /** Order book: a full snapshot record this often (ms). */
  snapshotEveryMs: number;
}

/** The socket said nothing for `silentMs`: treated as dead (tardis-machine and cryptofeed do the same). */
export class SilentSocket extends Error {}
/** The lease moved or the runner was stopped: nothing more may be appended. */
export class Fenced extends Error {}

/**
 * One ws stream for one lease epoch: `session()` (the subclass) runs until it throws; the loop
 * reconnects with exponential backoff (250 ms doubling, jittered, capped) until stopped or fenced.
 */
export abstract class WsRunner {
  readonly stats = new WsStats();
  protected stopped = false;
  protected ws: Exchange | null = null;
  private done: Promise<void> = Promise.resolve();
  private wake: (() => void) | null = null;
  protected readonly ctx: FnContext;
  protected readonly task: StreamTask;
  readonly epoch: number;
  protected readonly state: StreamState;
  protected readonly pool: ExchangePool;
  protected readonly settings: WsSettings;

  constructor(ctx: FnContext, task: StreamTask, epoch: number, state: StreamState, pool: ExchangePool, settings: WsSettings) {
    this.ctx = ctx;
    this.task = task;
    this.epoch = epoch;
    this.state = state;
    this.pool = pool;
    this.settings = settings;
  }

  start(): void {
    this.done = this.loop().finally(() => void (this.stopped = true));
  }

  /** Stops at once (synchronously no further append starts); resolves when the socket is closed. */
  stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    void this.ws?.close().catch(() => undefined);
    return this.done;
  }

  get running(): boolean {
    return !this.stopped;
  }

  protected fenced(): boolean {
    const { lease, signal } = this.ctx;
    return this.stopped || signal.aborted || !lease.holder || lease.epoch !== this.epoch;
  }

  protected abstract session(): Promise<void>;

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.fenced()) {
      let reason: string;
      try {
        await this.session();
        break;
      } catch (err) {
        if (this.fenced() || err instanceof Fenced) break;
        failures = this.stats.connectedSinceMs !== null && Date.now() - this.stats.connectedSinceMs > 30_000 ? 1 : failures + 1;
        reason = err instanceof SilentSocket ? 'silent' : err instanceof Error ? err.message : String(err);
        this.stats.disconnected(reason);
        this.state.failures = failures;
        this.state.cause = err instanceof SilentSocket ? 'network' : classifyCause(err);
        this.state.lastError = this.ctx.masker.text(reason).slice(0, 300);
        this.ctx.log.warn({ stream: streamName(this.task), reason: this.state.lastError, failures }, 'ws stream disconnected; reconnecting');
        await this.ctx.audit
          .record('collector.ws.reconnect', { exchange: this.task.exchange, topic: this.task.topic, symbol: this.task.symbol, epoch: this.epoch, reason: this.state.lastError, failures })
          .catch(() => undefined);
      } finally {
        const ws = this.ws;
        this.ws = null;
        await ws?.close().catch(() => undefined);
      }
      const delay = backoffDelay(failures, { baseMs: 250, capMs: this.settings.backoffMaxMs, jitter: [0.75, 1.25], maxDoublings: 10 });
      await this.sleep(delay);
    }
    this.stats.disconnected(null);
  }

  /** Waits `ms`, or until stop() wakes it. */
  private sleep(ms: number): Promise<void> {
    const woken = new AbortController();
    this.wake = () => woken.abort();
    return sleep(ms, woken.signal);
  }

  /** The ccxt client (one socket) this session reads; ccxt replaces it on its own after a close. */
  private connection: unknown = undefined;

  /** Forgets the session's socket (call at the start of a session). */
  protected newConnection(): void {
    this.connection = undefined;
  }

  /**
   * Throws when ccxt opened a new socket behind our back: a close that happened while nobody was
   * awaiting a watch is not reported to the next one, ccxt just reconnects. The session ends like
   * any disconnect, so the next one back-fills and the reconnect is counted and audited.
   */
  protected assertSameConnection(ws: Exchange): void {
    const current = Object.values((ws as unknown as { clients?: Record<string, unknown> }).clients ?? {})[0];
    if (this.connection === undefined) this.connection = current;
    else if (current !== this.connection) throw new Error('socket closed; ccxt opened a new one');
  }

  /** `next`, or SilentSocket after `silentMs` without it resolving. */
  protected async withSilence<T>(next: Promise<T>): Promise<T> {
    return timeout(next, this.settings.silentMs, () => new SilentSocket(`no message for ${this.settings.silentMs} ms`));
  }
}

export function classifyCause(err: unknown): StreamState['cause'] {
  const name = err instanceof Error ? err.constructor.name : '';
  if (err instanceof BadData) return 'bad_data';
  if (/RateLimit|DDoS/.test(name)) return 'rate_limit';
  if (/Network|Timeout|RequestTimeout/.test(name)) return 'network';
  return 'exchange';
}
