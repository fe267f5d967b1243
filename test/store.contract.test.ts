// test/store.contract.test.ts
// One contract suite for every object-store adapter: FsStore, S3Store against the real MinIO, and the failover store (StorageRouter) over both.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { isBtcError } from '../runtime/errors.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { StorageRouter } from '../runtime/store/router.ts';
import { createS3Store } from '../runtime/store/s3.ts';
import { listKeys, type ObjectStore } from '../runtime/store/types.ts';

const tmpRoots: string[] = [];
afterAll(() => tmpRoots.forEach((d) => rmSync(d, { recursive: true, force: true })));

function makeFs(): ObjectStore {
  const root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-fs-'));
  tmpRoots.push(root);
  return createFsStore({ root });
}

function makeS3(): ObjectStore {
  const m = inject('minio');
  return createS3Store({ endpoint: m.endpoint, bucket: m.bucket, accessKeyId: m.accessKey, secretAccessKey: m.secretKey });
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    if (isBtcError(err)) return err.code;
    throw err;
  }
}

/**
 * The failover store over a primary and a cache. It starts on the primary; `failedOver` feeds it
 * `downAfterBadProbes` failed probe results (its own hysteresis API, no stubbed store), so every
 * call goes to the cache, as while the NAS is down.
 */
function makeRouter(primary: ObjectStore, cache: ObjectStore, failedOver = false): StorageRouter {
  const router = new StorageRouter({ primary, cache, host: 'contract', probeTimeoutMs: 5_000, upAfterGoodProbes: 2, downAfterBadProbes: 2 });
  if (failedOver) for (let i = 0; i < 2; i++) router.recordProbe({ ok: false, latencyMs: 0, error: 'marked down by the test', cause: 'network' });
  return router;
}

/**
 * How an adapter answers `delete(key, { ifMatch })`. `enforced`: one conditional step (FsStore,
 * under its per-key lock). `ignored`: the port allows a store to ignore If-Match on DeleteObject
 * (types.ts ObjectStore.delete; AWS added conditional deletes in 2024) and the MinIO the tests run
 * does: the object goes whatever its ETag. Only the cache (an FsStore) is deleted conditionally
 * (runtime/sync/transfer.ts), so nothing relies on it over S3.
 */
type DeleteIfMatch = 'enforced' | 'ignored';

const adapters: Array<[string, () => ObjectStore, DeleteIfMatch]> = [
  ['FsStore', makeFs, 'enforced'],
  ['S3Store (real MinIO)', makeS3, 'ignored'],
  // The failover store must keep the port's contract whichever store it is on: conditional puts,
  // delete with ifMatch, listing and key rules pass through to the store it currently uses.
  ['StorageRouter (MinIO primary + FsStore cache)', () => makeRouter(makeS3(), makeFs()), 'ignored'],
  ['StorageRouter (FsStore primary + FsStore cache)', () => makeRouter(makeFs(), makeFs()), 'enforced'],
  ['StorageRouter failed over to its FsStore cache (MinIO primary marked down)', () => makeRouter(makeS3(), makeFs(), true), 'enforced'],
];

describe.each(adapters)('%s contract', (_name, make, deleteIfMatch) => {
  const store = make();
  let ns = '';
  beforeEach(({ task }) => {
    // Every test works under its own prefix, so the shared bucket never leaks state between tests.
    ns = `t/${task.id}-${Date.now()}/`;
  });

  it('a put with the MD5 of other bytes is refused with InvalidInput and stores nothing', async () => {
    const body = Buffer.from('the real bytes');
    const right = (await import('node:crypto')).createHash('md5').update(body).digest('hex');
    const wrong = (await import('node:crypto')).createHash('md5').update('other bytes').digest('hex');
    expect(await codeOf(store.put(`${ns}md5`, body, { md5: wrong, ifNoneMatch: '*' }))).toBe('InvalidInput');
    expect(await store.head(`${ns}md5`)).toBeNull();
    expect((await store.put(`${ns}md5`, body, { md5: right, ifNoneMatch: '*' })).etag).toBe(right);
    expect((await store.get(`${ns}md5`)).body.equals(body)).toBe(true);
  });

  it('round-trips bytes, reports etag and size, head and getOrNull agree', async () => {
    const body = Buffer.from('héllo\n\u0000binary');
    const put = await store.put(`${ns}a/b.bin`, body);
    const got = await store.get(`${ns}a/b.bin`);
    expect(got.body.equals(body)).toBe(true);
    expect(got.etag).toBe(put.etag);
    expect(got.size).toBe(body.length);
    const head = await store.head(`${ns}a/b.bin`);
    expect(head?.etag).toBe(put.etag);
    expect(await store.head(`${ns}missing`)).toBeNull();
    expect(await store.getOrNull(`${ns}missing`)).toBeNull();
    expect(await codeOf(store.get(`${ns}missing`))).toBe('NotFound');
  });

  it('gives the same etag to the same bytes and a different one to different bytes', async () => {
    const a = await store.put(`${ns}x`, 'same');
    const b = await store.put(`${ns}y`, 'same');
    const c = await store.put(`${ns}z`, 'other');
    expect(a.etag).toBe(b.etag);
    expect(a.etag).not.toBe(c.etag);
  });

  it('overwrites, deletes idempotently', async () => {
    await store.put(`${ns}k`, 'one');
    await store.put(`${ns}k`, 'two');
    expect((await store.get(`${ns}k`)).body.toString()).toBe('two');
    await store.delete(`${ns}k`);
    await store.delete(`${ns}k`);
    expect(await store.head(`${ns}k`)).toBeNull();
  });

  it('ifNoneMatch "*" creates once, then PreconditionFailed', async () => {
    expect(await codeOf(store.put(`${ns}lock`, 'first', { ifNoneMatch: '*' }))).toBe('ok');
    expect(await codeOf(store.put(`${ns}lock`, 'second', { ifNoneMatch: '*' }))).toBe('PreconditionFailed');
    expect((await store.get(`${ns}lock`)).body.toString()).toBe('first');
  });

  it('ifMatch replaces on the current etag only; on a missing key it is NotFound', async () => {
    const v1 = await store.put(`${ns}lease`, 'v1');
    const v2 = await store.put(`${ns}lease`, 'v2', { ifMatch: v1.etag });
    expect(await codeOf(store.put(`${ns}lease`, 'v3', { ifMatch: v1.etag }))).toBe('PreconditionFailed');
    expect((await store.get(`${ns}lease`)).body.toString()).toBe('v2');
    expect(await codeOf(store.put(`${ns}lease`, 'v3', { ifMatch: `"${v2.etag}"` }))).toBe('ok');
    expect(await codeOf(store.put(`${ns}absent`, 'x', { ifMatch: v1.etag }))).toBe('NotFound');
  });

  it('delete with ifMatch removes only the current etag; a stale one is PreconditionFailed and keeps the object (where the store enforces it)', async () => {
    const v1 = await store.put(`${ns}latest`, 'v1');
    const v2 = await store.put(`${ns}latest`, 'v2');
    if (deleteIfMatch === 'enforced') {
      expect(await codeOf(store.delete(`${ns}latest`, { ifMatch: v1.etag }))).toBe('PreconditionFailed');
      expect((await store.get(`${ns}latest`)).body.toString()).toBe('v2');
    } else {
      // This MinIO ignores If-Match on DeleteObject (see DeleteIfMatch): the stale delete removes v2.
      // Should it start enforcing, this fails and the adapter moves to 'enforced'.
      expect(await codeOf(store.delete(`${ns}latest`, { ifMatch: v1.etag }))).toBe('ok');
      expect(await store.head(`${ns}latest`)).toBeNull();
      await store.put(`${ns}latest`, 'v2');
    }
    expect(await codeOf(store.delete(`${ns}latest`, { ifMatch: `"${v2.etag}"` }))).toBe('ok');
    expect(await store.head(`${ns}latest`)).toBeNull();
    // Absent: nothing to protect, so as idempotent as a plain delete.
    expect(await codeOf(store.delete(`${ns}latest`, { ifMatch: v2.etag }))).toBe('ok');
  });

  it('20 concurrent ifNoneMatch puts of one key: exactly one wins', async () => {
    const codes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => codeOf(store.put(`${ns}race`, `writer-${i}`, { ifNoneMatch: '*' }))),
    );
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(codes.filter((c) => c === 'PreconditionFailed')).toHaveLength(19);
  });

  it('20 concurrent ifMatch puts on the same etag: exactly one wins', async () => {
    const base = await store.put(`${ns}cas`, 'base');
    const codes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => codeOf(store.put(`${ns}cas`, `writer-${i}`, { ifMatch: base.etag }))),
    );
    expect(codes.filter((c) => c === 'ok')).toHaveLength(1);
    expect(codes.filter((c) => c === 'PreconditionFailed')).toHaveLength(19);
    expect((await store.get(`${ns}cas`)).body.toString()).toMatch(/^writer-\d+$/);
  });

  it('refuses the same bad keys with InvalidKey on put, get, head and delete, before any I/O', async () => {
    // key-rules.ts: one set of rules for every adapter, so a key the cache takes the NAS takes too.
    const overLimit = `${ns}${'é'}${'a'.repeat(1023 - Buffer.byteLength(ns))}`; // 1025 bytes, fewer characters
    const bad = ['', '/abs', `${ns}../x`, 'a/../../x', `${ns}a//b`, `${ns}a/./b`, `${ns}dir/`, `${ns}nul\0x`, `${ns}ctl\u0001x`, `${ns}del\u007fx`, `${ns}a\\b`, 'C:/x', overLimit];
    for (const key of bad) {
      expect(await codeOf(store.put(key, 'x')), `put ${JSON.stringify(key)}`).toBe('InvalidKey');
      expect(await codeOf(store.get(key)), `get ${JSON.stringify(key)}`).toBe('InvalidKey');
      expect(await codeOf(store.getOrNull(key)), `getOrNull ${JSON.stringify(key)}`).toBe('InvalidKey');
      expect(await codeOf(store.head(key)), `head ${JSON.stringify(key)}`).toBe('InvalidKey');
      expect(await codeOf(store.delete(key)), `delete ${JSON.stringify(key)}`).toBe('InvalidKey');
    }
    // Exactly 1024 bytes of UTF-8 is S3's limit and is accepted (segments stay under a file name's 255).
    let longest = ns;
    while (Buffer.byteLength(longest) + 81 < 1024) longest += `${'é'.repeat(40)}/`;
    longest += 'b'.repeat(1024 - Buffer.byteLength(longest));
    expect(Buffer.byteLength(longest)).toBe(1024);
    expect(await codeOf(store.put(longest, 'x'))).toBe('ok');
    expect((await store.get(longest)).body.toString()).toBe('x');
    expect(await listKeys(store, ns)).toEqual([longest]);
  });

  it('refuses list prefixes no valid key could start with, with InvalidKey', async () => {
    for (const prefix of ['/x', '../', '..', `${ns}..`, `${ns}.`, `${ns}a//`, `${ns}./`, `${ns}a\\b`, `${ns}nul\0`, `${ns}${'a'.repeat(1025)}`]) {
      expect(await codeOf(store.listPage(prefix)), JSON.stringify(prefix)).toBe('InvalidKey');
    }
    // A partial last segment is a prefix, not a key: "dt=" and ".h" at the end are fine.
    await store.put(`${ns}dt=1/x`, 'v');
    await store.put(`${ns}.hidden`, 'v');
    expect(await listKeys(store, `${ns}dt=`)).toEqual([`${ns}dt=1/x`]);
    expect(await listKeys(store, `${ns}.h`)).toEqual([`${ns}.hidden`]);
  });

  it('lists lexicographically with pagination past 1000 keys', async () => {
    const keys = Array.from({ length: 1205 }, (_, i) => `${ns}list/${String(i).padStart(5, '0')}`);
    keys.push(`${ns}list-sibling`, `${ns}list/a/deeper`, `${ns}list/0000`, `${ns}list.z`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, 'v')));
    const under = keys.filter((k) => k.startsWith(`${ns}list/`)).sort();
    const first = await store.listPage(`${ns}list/`);
    expect(first.objects).toHaveLength(1000);
    expect(first.nextStartAfter).toBe(under[999]);
    expect(await listKeys(store, `${ns}list/`)).toEqual(under);
    // A partial-segment prefix matches across siblings, in byte order ("-" < "." < "/").
    expect(await listKeys(store, `${ns}list`)).toEqual([...keys].sort());
    const small = await store.listPage(`${ns}list/`, { limit: 3, startAfter: under[10] });
    expect(small.objects.map((o) => o.key)).toEqual(under.slice(11, 14));
  });
});

describe('StorageRouter specifics: where the failover store deliberately differs from one store', () => {
  it('while the primary is up every call goes to it and the cache stays empty and idle', async () => {
    const primary = makeFs();
    const cache = makeFs();
    const router = makeRouter(primary, cache);
    const put = await router.put('r/a', 'one', { ifNoneMatch: '*' });
    await router.put('r/a', 'two', { ifMatch: put.etag });
    expect(await listKeys(router, 'r/')).toEqual(['r/a']);
    await router.delete('r/a');
    await router.put('r/b', 'b');
    expect((await primary.get('r/b')).body.toString()).toBe('b');
    expect(await listKeys(cache, '')).toEqual([]);
    expect(router.state()).toMatchObject({ primary: 'up', secondary: 'idle', syncPending: false });
  });

  it('on its cache, conditions and reads see the cache only: a create-only put of a key the primary holds succeeds', async () => {
    // By design: the primary cannot be asked while it is down, and the router never merges the two
    // stores; sync copies the cache to the primary once it is back (runtime/sync/). The shared suite
    // above holds on the cache alone ("failed over" adapter); across the two stores it cannot.
    const primary = makeFs();
    const cache = makeFs();
    await primary.put('r/held', 'on the primary');
    const router = makeRouter(primary, cache, true);
    expect(router.state()).toMatchObject({ primary: 'down', secondary: 'used' });
    expect(await router.getOrNull('r/held')).toBeNull();
    expect(await codeOf(router.put('r/held', 'in the cache', { ifNoneMatch: '*' }))).toBe('ok');
    expect((await cache.get('r/held')).body.toString()).toBe('in the cache');
    expect((await primary.get('r/held')).body.toString()).toBe('on the primary');
    expect(router.state().syncPending).toBe(true);
  });
});

describe('FsStore specifics', () => {
  it('rejects keys that could escape the root, with InvalidKey', async () => {
    const store = makeFs();
    for (const key of ['../x', 'a/../../x', '/abs', 'a//b', 'a/./b', 'nul\0x', '', 'C:/x', '.btc-store/locks/x', 'a\\b']) {
      expect(await codeOf(store.put(key, 'x')), key).toBe('InvalidKey');
    }
  });

  it('a put into a folder that a delete is pruning at that moment still lands', async () => {
    // Sync deletes shipped segments from the cache while the collector may write the next one into
    // the same dt= folder; the delete's prune of the momentarily empty folder must not fail the put.
    const store = makeFs();
    for (let round = 0; round < 200; round++) {
      await store.put(`p/dt=1/${round}-a`, 'a');
      const results = await Promise.all([codeOf(store.delete(`p/dt=1/${round}-a`)), codeOf(store.put(`p/dt=1/${round}-b`, 'b', { ifNoneMatch: '*' }))]);
      expect(results, `round ${round}`).toEqual(['ok', 'ok']);
      expect((await store.get(`p/dt=1/${round}-b`)).body.toString()).toBe('b');
      await store.delete(`p/dt=1/${round}-b`);
    }
  });

  it('conditional puts are atomic across two processes on one directory', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-fs-xproc-'));
    tmpRoots.push(root);
    const store = createFsStore({ root });
    const base = await store.put('cas', 'base');
    const script = path.resolve('test/helpers/fs-race-worker.ts');
    const run = (id: string) =>
      promisify(execFile)(process.execPath, ['bin/tsnode.mjs', script, root, id, base.etag], { timeout: 60_000 });
    const outputs = await Promise.all([run('p1'), run('p2')]);
    const results = outputs.map((o) => JSON.parse(o.stdout) as { create: string[]; cas: string[] });
    const creates = results.flatMap((r) => r.create);
    const cases = results.flatMap((r) => r.cas);
    expect(creates.filter((c) => c === 'ok')).toHaveLength(1);
    expect(creates).toHaveLength(20);
    expect(cases.filter((c) => c === 'ok')).toHaveLength(1);
    expect(cases).toHaveLength(20);
  });
});
