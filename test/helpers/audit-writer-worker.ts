// test/helpers/audit-writer-worker.ts
// Child process for the shared-audit test: records N events into a host's audit WAL and ships them to a directory bucket.

import path from 'node:path';
import { AuditLog } from '../../runtime/audit.ts';
import { systemClock } from '../../runtime/clock.ts';
import { silentLogger } from '../../runtime/logger.ts';
import { createMasker } from '../../runtime/secrets.ts';
import { createFsStore } from '../../runtime/store/fs.ts';
import { recordAny } from './audit-any.ts';

const [dir, name, count] = process.argv.slice(2) as [string, string, string];
const audit = new AuditLog({ walDir: path.join(dir, 'wal'), host: 'pc1', actor: name, site: 's', clock: systemClock(), masker: createMasker({}), log: silentLogger() });
await audit.open();
const bucket = createFsStore({ root: path.join(dir, 'bucket') });
const outcomes = [];
for (let i = 0; i < Number(count); i++) {
  await recordAny(audit, 'test.event', { writer: name, i });
  if (i % 5 === 4) outcomes.push(...(await audit.ship(bucket)));
}
outcomes.push(...(await audit.ship(bucket)));
process.stdout.write(JSON.stringify(outcomes.map((o) => o.result)));
