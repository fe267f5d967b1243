// test/helpers/audit-read.ts
// Reads every audit event a host wrote, from the primary and from a local cache directory.

import path from 'node:path';
import type { AuditEvent } from '../../runtime/audit.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { listAll, type ObjectStore } from '../../runtime/store/types.ts';

export async function readAudit(stores: ObjectStore[]): Promise<Array<AuditEvent & { seq: number }>> {
  const events: Array<AuditEvent & { seq: number }> = [];
  for (const store of stores) {
    for await (const info of listAll(store, 'audit/')) {
      const body = (await store.get(info.key)).body.toString('utf8');
      for (const line of body.split('\n').filter(Boolean)) events.push(JSON.parse(line));
    }
  }
  return events.sort((a, b) => a.seq - b.seq);
}

/** The cache bucket of a runtime whose BTC_TS_DATA_DIR is `dataDir`. */
export function cacheStoreOf(dataDir: string): ObjectStore {
  return createFsStore({ root: path.join(dataDir, 'cache') });
}
