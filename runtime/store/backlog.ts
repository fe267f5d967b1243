// runtime/store/backlog.ts
// Counts what the local cache holds for the primary (the sync backlog), cheaply and with a cap.

import { listAll, type ObjectStore } from './types.ts';
import { HEALTH_PREFIX } from '../keys.ts';

export interface Backlog {
  objects: number;
  bytes: number;
  /** Counting stopped at the cap: there are at least this many. */
  capped: boolean;
}

/** Counting stops here so a huge backlog cannot make every refresh or scrape slow. */
export const BACKLOG_COUNT_CAP = 10_000;

/** Objects and bytes in the cache, probe objects excluded; lists without hashing (stat only). */
export async function measureBacklog(cache: ObjectStore, cap = BACKLOG_COUNT_CAP): Promise<Backlog> {
  let objects = 0;
  let bytes = 0;
  for await (const info of listAll(cache, '', 1000, { etags: false })) {
    if (info.key.startsWith(HEALTH_PREFIX)) continue;
    objects++;
    bytes += info.size;
    if (objects >= cap) return { objects, bytes, capped: true };
  }
  return { objects, bytes, capped: false };
}
