// test/helpers/lock-holder-worker.ts
// Child process for the file-lock tests: takes the lock given on argv, prints "held", then waits to be killed.

import { acquireFileLock } from '../../runtime/file-lock.ts';

const [lock] = process.argv.slice(2);
if (!lock) throw new Error('usage: lock-holder-worker <lock>');
await acquireFileLock(lock, { staleMs: 60_000 });
process.stdout.write('held\n');
setInterval(() => {}, 1_000);
