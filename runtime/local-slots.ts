// runtime/local-slots.ts
// ctx.local as typed slots: each slot's value type is declared once (defineSlot) and every read and write is checked by the compiler.

/**
 * A typed key into `ctx.local`. Made once per slot by `defineSlot<T>(name)` next to the code that
 * owns the value; `name` is the key in the underlying map (namespaced by the owner, e.g.
 * `collector:streams`). The phantom `type` member only carries `T` for the compiler (it is never set).
 */
export interface Slot<T> {
  readonly name: string;
  /** Never present at run time: makes `Slot<T>` invariant in `T`, so a slot is read and written at exactly its type. */
  readonly type?: (value: T) => T;
}

/** Declares a slot of `ctx.local` holding a `T` (absent until first set). */
export function defineSlot<T>(name: string): Slot<T> {
  return Object.freeze({ name });
}

/**
 * Process-local memory of one runtime (`ctx.local`, `runtime.local`): values that cannot live in
 * the store by design (a candidate's own monotonic lease observation, ccxt instances, open
 * WebSockets, the DIAG reason list). One per runtime (one per isolate in a worker); it lives as
 * long as the runtime and is never persisted. A plain string-keyed Map underneath; reads and writes
 * go through `Slot<T>` tokens, so the only cast is here.
 */
export class LocalSlots {
  private readonly values = new Map<string, unknown>();

  /** The slot's value, or undefined when it was never set (or deleted). */
  get<T>(slot: Slot<T>): T | undefined {
    return this.values.get(slot.name) as T | undefined;
  }

  set<T>(slot: Slot<T>, value: T): this {
    this.values.set(slot.name, value);
    return this;
  }

  has<T>(slot: Slot<T>): boolean {
    return this.values.has(slot.name);
  }

  /** Forgets the slot's value; true when there was one. */
  delete<T>(slot: Slot<T>): boolean {
    return this.values.delete(slot.name);
  }

  /** The slot's value, made by `make` and kept on first use (e.g. a per-stream Map). */
  ensure<T>(slot: Slot<T>, make: () => T): T {
    let value = this.get(slot);
    if (value === undefined) {
      value = make();
      this.set(slot, value);
    }
    return value;
  }
}
