// runtime/sync/byte-budget.ts
// A budget of bytes held in memory at once (bodies read ahead and uploads in flight): a 1 MB segment takes 1 MB of it, small ones share it.

/**
 * Default byte budget (bytes): 8 MiB. Measured with `npm run bench -- sync` (docs/sync.md): 8 uploads
 * of 1 MB segments keep a local MinIO as busy as 24 do, and the process holds ~60 MB less.
 */
export const DEFAULT_MAX_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

/**
 * Bytes in flight, bounded: `acquire(n)` waits until `n` more bytes fit under `limit`, first come
 * first served, so a large body is never starved by small ones behind it. One body larger than the
 * whole budget is let through alone (when nothing else is held), so no object is ever stuck.
 * Every acquire must be paired with exactly one `release` of the same number of bytes.
 *
 * Sync holds a body from the moment it is read from the cache until its upload is verified and its
 * cache copy deleted (or it is dropped: a dry run, a conflict kept aside); the count of uploads
 * (`concurrency`) bounds requests, this bounds memory.
 */
export class ByteBudget {
  /** Bytes held now, and the most ever held at once (reported in tests and the bench). */
  held = 0;
  peak = 0;
  private readonly waiting: Array<{ bytes: number; resolve: () => void }> = [];

  /** `limit` in bytes, at least 1. */
  constructor(readonly limit: number) {
    if (!(limit >= 1)) throw new RangeError(`byte budget must be at least 1 byte, got ${limit}`);
  }

  /** Resolves once `bytes` are held for the caller (at once when they fit and nobody waits before). */
  acquire(bytes: number): Promise<void> {
    if (this.waiting.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push({ bytes, resolve }));
  }

  /** Gives back what one acquire took; wakes the waiters that now fit, in order. */
  release(bytes: number): void {
    this.held = Math.max(0, this.held - bytes);
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.bytes)) {
      const next = this.waiting.shift()!;
      this.take(next.bytes);
      next.resolve();
    }
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit;
  }

  private take(bytes: number): void {
    this.held += bytes;
    this.peak = Math.max(this.peak, this.held);
  }
}
