// runtime/http/incident-list.ts
// The incident folders the dashboard's Data card lists: the newest incident ids, listed at most once a minute.

import { listAll, type ObjectStore } from '../store/types.ts';
import { INCIDENTS_PREFIX, parseIncidentDocKey } from '../keys.ts';

const INCIDENTS_SHOWN = 10;
const INCIDENTS_CACHE_MS = 60_000;

/** Incident ids (folders with an incident.json), listed at most once a minute. */
export class IncidentList {
  private cached: { at: number; ids: string[] } | null = null;
  constructor(private readonly store: ObjectStore) {}

  async ids(now: number): Promise<string[]> {
    if (this.cached && now - this.cached.at < INCIDENTS_CACHE_MS) return this.cached.ids;
    const found: Array<{ id: string; at: number }> = [];
    for await (const o of listAll(this.store, INCIDENTS_PREFIX, 1000, { etags: false })) {
      const id = parseIncidentDocKey(o.key);
      if (id) found.push({ id, at: o.lastModified });
    }
    const ids = found.sort((a, b) => b.at - a.at).slice(0, INCIDENTS_SHOWN).map((f) => f.id);
    this.cached = { at: now, ids };
    return ids;
  }
}
