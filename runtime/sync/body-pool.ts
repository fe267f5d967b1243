// runtime/sync/body-pool.ts
// Reusable read buffers for segment bodies: a 1 MB body is read into a buffer an earlier verified upload gave back, not into a fresh allocation that lingers until V8's next GC.

/**
 * Bodies smaller than this (bytes) are allocated as usual: Node serves those under 4 KiB from its
 * shared slab, and a few KB of garbage per segment is what the young generation collects cheaply.
 */
export const POOLED_MIN_BYTES = 64 * 1024;
/** Pooled buffers are sized in steps of this (bytes), so segments of about one size share buffers. */
const POOLED_STEP_BYTES = 64 * 1024;
/**
 * After this many small bodies in a row (none pooled) the free buffers go to the GC: the large
 * segments are done (a stream of small ones follows), and idle megabytes would only sit in RSS.
 */
const IDLE_AFTER_SMALL_TAKES = 32;

/**
 * Why: a released 1 MB Buffer is memory outside the V8 heap that only a GC gives back, and V8 runs
 * one for external memory only after tens of MB of it piled up. Measured with `npm run bench --
 * sync` (docs/sync.md "Memory"): 20–40 MB of such garbage on top of an 8 MiB byte budget while the
 * ~1 MB segments synced. Reusing buffers keeps that part at what the budget holds.
 *
 * `take(size)` lends a Buffer of exactly `size` bytes: a view of a pooled buffer of at least that
 * capacity (and at most twice it), or a fresh one. `give(body)` returns it for reuse — only when
 * nothing else can still read or write those bytes (the caller's promise: a body whose upload may
 * still be on the wire is `forget`-ed instead). Buffers lent plus free never exceed `limit` bytes
 * by a free one: free ones that do not fit are dropped before a new one is made, and a returned
 * buffer beyond the limit is left to the GC. After a run of small bodies the free buffers are
 * dropped too. One pool per sync run: whatever it holds goes with the run.
 */
export class BodyPool {
  /** Buffers made and reuses served (the bench and tests read them). */
  allocations = 0;
  reuses = 0;
  /** Free buffers, smallest first. */
  private readonly free: ArrayBuffer[] = [];
  private freeBytes = 0;
  private readonly lent = new Set<ArrayBuffer>();
  private lentBytes = 0;
  /** Small bodies taken since the last pooled one. */
  private smallTakes = 0;

  /** `limit` in bytes: the run's byte budget. */
  constructor(readonly limit: number) {}

  /** A Buffer of exactly `size` bytes (contents undefined: the caller fills it). */
  take(size: number): Buffer {
    if (size < POOLED_MIN_BYTES) {
      if (++this.smallTakes === IDLE_AFTER_SMALL_TAKES) this.trim();
      return Buffer.allocUnsafe(size);
    }
    this.smallTakes = 0;
    const fit = this.free.findIndex((b) => b.byteLength >= size);
    let backing: ArrayBuffer;
    if (fit !== -1 && this.free[fit]!.byteLength <= 2 * size) {
      backing = this.free.splice(fit, 1)[0]!;
      this.freeBytes -= backing.byteLength;
      this.reuses++;
    } else {
      const capacity = Math.ceil(size / POOLED_STEP_BYTES) * POOLED_STEP_BYTES;
      while (this.free.length > 0 && this.lentBytes + this.freeBytes + capacity > this.limit) {
        this.freeBytes -= this.free.shift()!.byteLength;
      }
      // allocUnsafeSlow: a backing store of its own (not Node's shared slab), never zero-filled.
      backing = Buffer.allocUnsafeSlow(capacity).buffer as ArrayBuffer;
      this.allocations++;
    }
    this.lent.add(backing);
    this.lentBytes += backing.byteLength;
    return Buffer.from(backing, 0, size);
  }

  /** Returns a body `take` lent, for reuse; any other Buffer is ignored. */
  give(body: Buffer): void {
    const backing = this.untrack(body);
    if (!backing || this.idle() || this.freeBytes + backing.byteLength > this.limit) return;
    const at = this.free.findIndex((b) => b.byteLength >= backing.byteLength);
    this.free.splice(at === -1 ? this.free.length : at, 0, backing);
    this.freeBytes += backing.byteLength;
  }

  /** Stops counting a body `take` lent without reusing it (its bytes may still be read elsewhere): the GC frees it. */
  forget(body: Buffer): void {
    this.untrack(body);
  }

  /** Lets the GC have every free buffer. */
  trim(): void {
    this.free.length = 0;
    this.freeBytes = 0;
  }

  /** Bytes lent and free now (tests). */
  bytes(): { lent: number; free: number } {
    return { lent: this.lentBytes, free: this.freeBytes };
  }

  /** Only small bodies lately: a returned buffer is not kept. */
  private idle(): boolean {
    return this.smallTakes >= IDLE_AFTER_SMALL_TAKES;
  }

  private untrack(body: Buffer): ArrayBuffer | null {
    const backing = body.buffer as ArrayBuffer;
    if (!this.lent.delete(backing)) return null;
    this.lentBytes -= backing.byteLength;
    return backing;
  }
}
