// ops/bench/_store-tap.ts
// A pass-through ObjectStore that calls a hook after every successful put: the benches measure with it what reached the primary, and when.

import type { ObjectStore } from '../../runtime/store/types.ts';

/** `inner` unchanged (every option passed on), with `hook(key, body)` called after each put that returned. */
export function afterEveryPut(inner: ObjectStore, hook: (key: string, body: Buffer | string) => void): ObjectStore {
  return {
    describe: inner.describe,
    get: (k) => inner.get(k),
    getOrNull: (k) => inner.getOrNull(k),
    head: (k) => inner.head(k),
    delete: (k, o) => inner.delete(k, o),
    listPage: (p, o) => inner.listPage(p, o),
    ...(inner.flush ? { flush: () => inner.flush!() } : {}),
    async put(key, body, options) {
      const result = await inner.put(key, body, options);
      hook(key, body);
      return result;
    },
  };
}
