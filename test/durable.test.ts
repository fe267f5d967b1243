// test/durable.test.ts
// Acknowledged means stored: short writes completed, failed appends cut back with their seq given back, a real full disk named disk_full.

import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditLog } from '../runtime/audit.ts';
import { manualClock } from '../runtime/clock.ts';
import { DiskMonitor } from '../runtime/disk-space.ts';
import { appendDurable, type AppendHandle } from '../runtime/durable.ts';
import { isBtcError } from '../runtime/errors.ts';
import { silentLogger } from '../runtime/logger.ts';
import { createMasker } from '../runtime/secrets.ts';
import { SegmentLog } from '../runtime/segments.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { listKeys } from '../runtime/store/types.ts';
import { mountTmpfs, type Tmpfs } from './helpers/tmpfs.ts';
import { recordAny } from './helpers/audit-any.ts';

type Rec = { ts: number; v: string };
const keyFor = (_first: { ts: number }, firstSeq: number) => `seg/${String(firstSeq).padStart(12, '0')}.jsonl`;
const records = (n: number, from = 0): Rec[] => Array.from({ length: n }, (_, i) => ({ ts: 1_700_000_000_000 + from + i, v: `r${from + i}` }));
const seqsIn = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-durable-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function tmpfs(bytes: number): Tmpfs {
  const fs = mountTmpfs(bytes);
  cleanups.push(() => fs.dispose());
  return fs;
}

/** A real file handle whose writes take at most `max` bytes each, and that can fail after `failAfter` bytes. */
function shortWriter(options: { max: number; failAfter?: number; failSync?: boolean; calls?: number[] }) {
  return async (file: string): Promise<AppendHandle> => {
    const handle = await fsp.open(file, 'a');
    let total = 0;
    return {
      async write(buffer, offset, length) {
        if (options.failAfter !== undefined && total >= options.failAfter) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        const take = Math.min(length, options.max, options.failAfter === undefined ? Infinity : options.failAfter - total);
        const result = await handle.write(buffer, offset, take);
        total += result.bytesWritten;
        options.calls?.push(result.bytesWritten);
        return result;
      },
      async sync() {
        if (options.failSync) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
        return handle.sync();
      },
      truncate: (length) => handle.truncate(length),
      stat: () => handle.stat(),
      close: () => handle.close(),
    };
  };
}

describe('a durable append is whole or nothing', () => {
  it('continues short writes until every byte is down: the records read back whole, seq gap-free', async () => {
    const dir = tempDir();
    const calls: number[] = [];
    const log = new SegmentLog<Rec>({ dir, keyFor, openForAppend: shortWriter({ max: 7, calls }) });
    const written = await log.append(records(20));
    expect(written.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(calls.length).toBeGreaterThan(20); // the writes really were short
    expect(calls.every((n) => n <= 7)).toBe(true);
    expect(seqsIn(path.join(dir, 'open.jsonl'))).toEqual(written.map((r) => r.seq));
  });

  it('a write that fails half-way (ENOSPC) is cut back, rejected as DiskFull, and its seq numbers are given back', async () => {
    const dir = tempDir();
    const ok = new SegmentLog<Rec>({ dir, keyFor });
    await ok.append(records(3));
    const sizeBefore = statSync(path.join(dir, 'open.jsonl')).size;

    const failing = new SegmentLog<Rec>({ dir: path.join(dir), keyFor, openForAppend: shortWriter({ max: 10, failAfter: 25 }) });
    const err = await failing.append(records(5, 3)).catch((e: unknown) => e);
    expect(isBtcError(err, 'DiskFull')).toBe(true);
    expect((err as Error).message).toMatch(/disk full \(ENOSPC\)/);
    expect(statSync(path.join(dir, 'open.jsonl')).size).toBe(sizeBefore); // nothing of it kept

    // The same log continues with the seq it gave back (3), and a reopen agrees.
    const after = new SegmentLog<Rec>({ dir, keyFor });
    const next = await after.append(records(2, 8));
    expect(next.map((r) => r.seq)).toEqual([3, 4]);
    expect(seqsIn(path.join(dir, 'open.jsonl'))).toEqual([0, 1, 2, 3, 4]);
  });

  it('an fsync that fails (EIO) is not an acknowledgement: cut back, IoError, the next append reuses the seq', async () => {
    const dir = tempDir();
    let failSync = true;
    const log = new SegmentLog<Rec>({
      dir,
      keyFor,
      openForAppend: async (file) => {
        const inner = await shortWriter({ max: 1 << 20, failSync })(file);
        return inner;
      },
    });
    const err = await log.append(records(2)).catch((e: unknown) => e);
    expect(isBtcError(err, 'IoError')).toBe(true);
    expect(statSync(path.join(dir, 'open.jsonl')).size).toBe(0);
    failSync = false;
    const written = await log.append(records(2));
    expect(written.map((r) => r.seq)).toEqual([0, 1]);
  });

  it('appendDurable reports the sizes before and after (bytes)', async () => {
    const file = path.join(tempDir(), 'f');
    expect(await appendDurable(file, Buffer.from('abc'))).toEqual({ before: 0, after: 3 });
    expect(await appendDurable(file, Buffer.from('de'))).toEqual({ before: 3, after: 5 });
  });
});

describe('the next seq survives a lost state.json', () => {
  it('is recovered from the sealed segments still on disk, so no seq is used twice', async () => {
    const dir = tempDir();
    const log = new SegmentLog<Rec>({ dir, keyFor });
    await log.append(records(4));
    await log.seal(); // sealed/, not shipped (the NAS is down)
    rmSync(path.join(dir, 'state.json'));
    const reopened = new SegmentLog<Rec>({ dir, keyFor });
    expect((await reopened.open()).nextSeq).toBe(4);
    expect((await reopened.append(records(1, 4)))[0]!.seq).toBe(4);
  });

  it('a stale state.json (older than the sealed segments) does not win either', async () => {
    const dir = tempDir();
    const log = new SegmentLog<Rec>({ dir, keyFor });
    await log.append(records(2));
    await log.seal();
    const stale = readFileSync(path.join(dir, 'state.json'), 'utf8');
    await log.append(records(3, 2));
    await log.seal();
    writeFileSync(path.join(dir, 'state.json'), stale);
    const reopened = new SegmentLog<Rec>({ dir, keyFor });
    expect((await reopened.open()).nextSeq).toBe(5);
  });
});

describe('a real full disk (tmpfs)', () => {
  it('FsStore.put says DiskFull and leaves no temp file; a SegmentLog append is refused whole; both work again once space returns', async () => {
    const fs = tmpfs(512 * 1024);
    const store = createFsStore({ root: path.join(fs.dir, 'cache') });
    await store.put('warm/up.txt', 'x'); // its folders exist before the disk fills
    const log = new SegmentLog<Rec>({ dir: path.join(fs.dir, 'wal'), keyFor });
    await log.append(records(2));
    fs.fill();

    const putErr = await store.put('raw/a/b.jsonl', Buffer.alloc(64 * 1024, 2)).catch((e: unknown) => e);
    expect(isBtcError(putErr, 'DiskFull')).toBe(true);
    expect(readdirSync(path.join(fs.dir, 'cache', '.btc-store', 'tmp'))).toEqual([]);
    expect(existsSync(path.join(fs.dir, 'cache', 'raw', 'a', 'b.jsonl'))).toBe(false);

    const sizeBefore = statSync(path.join(fs.dir, 'wal', 'open.jsonl')).size;
    const big = records(400, 2).map((r) => ({ ...r, v: 'y'.repeat(200) }));
    const appendErr = await log.append(big).catch((e: unknown) => e);
    expect(isBtcError(appendErr, 'DiskFull')).toBe(true);
    expect(statSync(path.join(fs.dir, 'wal', 'open.jsonl')).size).toBe(sizeBefore);

    const monitor = new DiskMonitor(fs.dir, 100 * 1024);
    expect(await monitor.read()).toMatchObject({ low: true });
    expect((await monitor.read())!.free_bytes).toBeLessThan(8 * 1024);

    fs.free();
    await store.put('raw/a/b.jsonl', Buffer.alloc(64 * 1024, 2));
    const written = await log.append(records(2, 2));
    expect(written.map((r) => r.seq)).toEqual([2, 3]);
    expect(seqsIn(path.join(fs.dir, 'wal', 'open.jsonl'))).toEqual([0, 1, 2, 3]);
    expect((await monitor.read())!.low).toBe(false);
  });

  it('audit events are held in memory while the disk is full and written, in order, once it has room', async () => {
    const fs = tmpfs(256 * 1024);
    const clock = manualClock(1_700_000_000_000);
    const audit = new AuditLog({ walDir: path.join(fs.dir, 'wal'), host: 'pc1', actor: 't', site: 's', clock, masker: createMasker({}), log: silentLogger() });
    await audit.open();
    await recordAny(audit, 'test.before');
    fs.fill();
    // Big enough to need new pages (a small one fits in the last page the file already has).
    await recordAny(audit, 'test.during.1', { n: 1, pad: 'p'.repeat(16 * 1024) }); // resolves: held, not thrown
    await recordAny(audit, 'test.during.2', { n: 2, pad: 'p'.repeat(16 * 1024) });
    expect(audit.heldEvents()).toBe(2);
    fs.free();
    await recordAny(audit, 'test.after');
    expect(audit.heldEvents()).toBe(0);
    const bucket = createFsStore({ root: tempDir() });
    await audit.ship(bucket);
    const lines = (await Promise.all((await listKeys(bucket, 'audit/')).map(async (k) => (await bucket.get(k)).body.toString())))
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { event: string; seq: number });
    expect(lines.map((l) => l.event)).toEqual(['test.before', 'test.during.1', 'test.during.2', 'test.after']);
    expect(lines.map((l) => l.seq)).toEqual([0, 1, 2, 3]);
  });
});

describe('conditional delete (the sync step that empties the cache)', () => {
  it('deletes only the version it names; a newer write stays', async () => {
    const store = createFsStore({ root: tempDir() });
    const first = await store.put('latest/x.csv', 'v1');
    await store.put('latest/x.csv', 'v2'); // written while the sync copied v1
    const err = await store.delete('latest/x.csv', { ifMatch: first.etag }).catch((e: unknown) => e);
    expect(isBtcError(err, 'PreconditionFailed')).toBe(true);
    expect((await store.get('latest/x.csv')).body.toString()).toBe('v2');
    const second = await store.head('latest/x.csv');
    await store.delete('latest/x.csv', { ifMatch: second!.etag });
    expect(await store.head('latest/x.csv')).toBeNull();
    await store.delete('latest/x.csv', { ifMatch: second!.etag }); // absent: fine
  });
});
