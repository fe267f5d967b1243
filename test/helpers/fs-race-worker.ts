// test/helpers/fs-race-worker.ts
// Child process for the cross-process FsStore race: 10 creates and 10 compare-and-swaps, prints the codes.

import { createFsStore } from '../../runtime/store/fs.ts';
import { isBtcError } from '../../runtime/errors.ts';

const [root, id, baseEtag] = process.argv.slice(2) as [string, string, string];
const store = createFsStore({ root });
const attempt = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err) => (isBtcError(err) ? err.code : `error:${String(err)}`),
  );
const [create, cas] = await Promise.all([
  Promise.all(Array.from({ length: 10 }, (_, i) => attempt(store.put('race', `${id}-${i}`, { ifNoneMatch: '*' })))),
  Promise.all(Array.from({ length: 10 }, (_, i) => attempt(store.put('cas', `${id}-${i}`, { ifMatch: baseEtag })))),
]);
process.stdout.write(JSON.stringify({ create, cas }));
