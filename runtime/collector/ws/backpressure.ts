// runtime/collector/ws/backpressure.ts
// Bounds what a ws stream holds in memory: past a high-water mark the socket is no longer read (TCP pushes back) until the stream has caught up.

import type { Exchange } from 'ccxt';

/** Messages queued per stream before its socket stops being read (~250 bytes each as parsed by ccxt: ~12 MB; 2.5 s at 20,000/s, room for a back-fill). */
export const QUEUE_HIGH_WATER = 50_000;
/** Messages handed to one append at most (one fsync): bounds the garbage of one commit. */
export const BATCH_MAX = 10_000;

/**
 * The messages a ws runner has received and not yet appended, bounded. ccxt reads and parses every
 * frame as soon as it arrives, so when appends fall behind (a slow disk, a busy CPU) the backlog
 * would otherwise grow in the heap without limit. At QUEUE_HIGH_WATER the socket of `ws` is paused
 * (the `ws` package's WebSocket.pause(): its TCP socket stops being read, the kernel's buffers fill
 * and the sender slows down or drops the connection); `take()` resumes it once the queue is below
 * half. Nothing is lost either way: a connection the exchange drops ends the session and the next
 * one back-fills over REST from the last stored id.
 */
export class BoundedQueue<T> {
  private items: T[] = [];
  private paused: Exchange | null = null;
  /** Times the socket was paused (the bench and logs read it). */
  pauses = 0;
  private readonly highWater: number;
  private readonly batchMax: number;

  constructor(limits: { highWater?: number; batchMax?: number } = {}) {
    this.highWater = limits.highWater ?? QUEUE_HIGH_WATER;
    this.batchMax = limits.batchMax ?? BATCH_MAX;
  }

  /** Whether the socket is paused now. */
  get reading(): boolean {
    return this.paused === null;
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T, ws: Exchange): void {
    this.items.push(item);
    if (this.items.length >= this.highWater && this.paused === null) {
      this.paused = ws;
      this.pauses++;
      setReading(ws, false);
    }
  }

  /** Up to `batchMax` of the oldest messages; resumes reading once the rest is below half the high-water mark. */
  take(): T[] {
    const all = this.items.length <= this.batchMax;
    const batch = all ? this.items : this.items.slice(0, this.batchMax);
    this.items = all ? [] : this.items.slice(this.batchMax);
    if (this.paused !== null && this.items.length < this.highWater / 2) this.resume();
    return batch;
  }

  /** Forgets everything and reads again (a new session). */
  clear(): void {
    this.items = [];
    this.resume();
  }

  private resume(): void {
    const ws = this.paused;
    this.paused = null;
    if (ws) setReading(ws, true);
  }
}

/** Pauses or resumes reading every socket of a ccxt pro instance (its clients' `connection`, a `ws` WebSocket in Node). */
function setReading(ws: Exchange, reading: boolean): void {
  const clients = (ws as unknown as { clients?: Record<string, { connection?: { pause?: () => void; resume?: () => void } }> }).clients ?? {};
  for (const client of Object.values(clients)) {
    try {
      if (reading) client.connection?.resume?.();
      else client.connection?.pause?.();
    } catch {
      // a socket closing meanwhile: the session ends on its own
    }
  }
}
