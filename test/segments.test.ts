// test/segments.test.ts
// Segment log basics: durable appends with gap-free seq, torn last line cut, idempotent and conflict-safe ship.

import { appendFileSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFsStore } from '../runtime/store/fs.ts';
import { SegmentLog } from '../runtime/segments.ts';
import { listKeys } from '../runtime/store/types.ts';

type Rec = { ts: number; v: string };
const keyFor = (_first: { ts: number }, firstSeq: number) => `seg/${String(firstSeq).padStart(12, '0')}.jsonl`;

function fresh() {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-seg-'));
  return { dir, store: createFsStore({ root: path.join(dir, 'bucket') }) };
}

describe('SegmentLog', () => {
  it('continues seq across reopen and ships each segment once', async () => {
    const { dir, store } = fresh();
    const a = new SegmentLog<Rec>({ dir: path.join(dir, 'wal'), keyFor });
    await a.append([{ ts: 1, v: 'a' }, { ts: 2, v: 'b' }]);
    await a.ship(store);
    await a.append([{ ts: 3, v: 'c' }]);
    const b = new SegmentLog<Rec>({ dir: path.join(dir, 'wal'), keyFor }); // a restart
    expect((await b.open()).nextSeq).toBe(3);
    await b.append([{ ts: 4, v: 'd' }]);
    await b.ship(store);
    expect(await listKeys(store, 'seg/')).toEqual(['seg/000000000000.jsonl', 'seg/000000000002.jsonl']);
    const lines = (await store.get('seg/000000000002.jsonl')).body.toString().trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.seq)).toEqual([2, 3]);
    expect(await b.sealed()).toEqual([]);
  });

  it('cuts a torn last line on open and keeps every whole line before it', async () => {
    const { dir } = fresh();
    const wal = path.join(dir, 'wal');
    const a = new SegmentLog<Rec>({ dir: wal, keyFor });
    await a.append([{ ts: 1, v: 'a' }, { ts: 2, v: 'b' }]);
    appendFileSync(path.join(wal, 'open.jsonl'), '{"ts":3,"v":"tor');
    const b = new SegmentLog<Rec>({ dir: wal, keyFor });
    const report = await b.open();
    expect(report.tornBytes).toBe('{"ts":3,"v":"tor'.length);
    expect(report.nextSeq).toBe(2);
    expect(readFileSync(path.join(wal, 'open.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('a key already present with the same bytes is done; different bytes is a conflict and the local copy stays', async () => {
    const { dir, store } = fresh();
    const a = new SegmentLog<Rec>({ dir: path.join(dir, 'wal'), keyFor });
    const [rec] = await a.append([{ ts: 1, v: 'a' }]);
    await store.put('seg/000000000000.jsonl', JSON.stringify(rec) + '\n');
    expect(await a.ship(store)).toMatchObject([{ key: 'seg/000000000000.jsonl', result: 'already_present' }]);
    await a.append([{ ts: 2, v: 'b' }]);
    await store.put('seg/000000000001.jsonl', 'different bytes\n');
    expect(await a.ship(store)).toMatchObject([{ key: 'seg/000000000001.jsonl', result: 'conflict' }]);
    expect((await store.get('seg/000000000001.jsonl')).body.toString()).toBe('different bytes\n');
    // Our copy is kept aside (not retried every tick, never lost).
    expect(await a.sealed()).toHaveLength(0);
    const kept = readdirSync(path.join(dir, 'wal', 'conflicts'));
    expect(kept.map((f) => decodeURIComponent(f))).toEqual(['seg/000000000001.jsonl']);
    expect(readFileSync(path.join(dir, 'wal', 'conflicts', kept[0]!), 'utf8')).toContain('"v":"b"');
  });
});

describe('the audit trail shared by the server and CLI commands of one PC', () => {
  it('two processes writing one audit WAL get one gap-free seq and never clash on a key', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { dir } = fresh();
    const run = (name: string) =>
      promisify(execFile)(process.execPath, ['bin/tsnode.mjs', 'test/helpers/audit-writer-worker.ts', dir, name, '40'], { timeout: 60_000 });
    const outputs = await Promise.all([run('server'), run('cli')]);
    const results = outputs.flatMap((o) => JSON.parse(o.stdout) as string[]);
    expect(results).not.toContain('conflict');
    const bucket = createFsStore({ root: path.join(dir, 'bucket') });
    const events: Array<{ seq: number; actor: string }> = [];
    for (const key of await listKeys(bucket, 'audit/')) {
      for (const line of (await bucket.get(key)).body.toString().trim().split('\n')) events.push(JSON.parse(line));
    }
    expect(events).toHaveLength(80);
    expect(events.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(events.filter((e) => e.actor === 'cli')).toHaveLength(40);
  });
});
