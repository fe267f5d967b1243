// test/handoff-unzip.test.ts
// Issue 22 §3: every decompression is bounded (entry, total, ratio) — handoff load, the ToDo card — and the card stays off the request path.

import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBundle } from '../runtime/handoff/read.ts';
import { openZip } from '../runtime/handoff/unzip.ts';
import { BUNDLE_LIMITS } from '../runtime/handoff/zip-limits.ts';
import { NextTasksSource } from '../runtime/http/handover-tasks.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import type { GetResult, ObjectStore } from '../runtime/store/types.ts';
import { runCli } from './helpers/run-cli.ts';
import { makeZip, type BombEntry } from './helpers/zip-bomb.ts';

const BOMB_BYTES = 200_000_000;
/** What a bundle needs around its handover.md for `handoff load` to get as far as reading it. */
const BUNDLE_PARTS: BombEntry[] = [
  { name: 'env_manifest.yaml', body: 'bundle:\n  format: btc-ts-handoff\n  version: 1\n  name: Handoff_20260101_0000.zip\n  created_at: x\n' },
  { name: 'gpt_context_map.yaml', body: 'phase: p\n' },
  { name: 'repo_structure.yaml', body: 'file_count: 0\n' },
  { name: 'git.yaml', body: 'available: false\n' },
];
const sums = (names: string[]) => ({ name: 'SHA256SUMS', body: names.map((n) => `${'0'.repeat(64)}  ${n}`).join('\n') + '\n' });

let dir: string;
let honestBomb: Buffer;
let lyingBomb: Buffer;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-unzip-'));
  // handover.md first: the checksum pass reads it before any (fake) sum could fail.
  const names = ['handover.md', ...BUNDLE_PARTS.map((p) => p.name)];
  honestBomb = await makeZip([...BUNDLE_PARTS, { name: 'handover.md', repeat: BOMB_BYTES }, sums(names)]);
  // Declares 2 KB: only the running count of real output can stop it.
  lyingBomb = await makeZip([...BUNDLE_PARTS, { name: 'handover.md', repeat: BOMB_BYTES, declaredSize: 2048 }, sums(names)]);
  expect(lyingBomb.length).toBeLessThan(BOMB_BYTES / 500);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const errorOf = (p: Promise<unknown>) => p.then(() => null, (e: Error & { code?: string }) => e);

describe('bounded unzip', () => {
  it('handoff load refuses a 200 MB bomb that declares its size, before inflating, naming the entry and the limit', async () => {
    const error = await errorOf(readBundle(honestBomb));
    expect(error?.code).toBe('InvalidInput');
    expect(error?.message).toBe('bundle refused: entry "handover.md" declares 190.7 MiB (per-entry limit 32 MiB)');
  });

  it('handoff load refuses a bomb that lies about its size, and memory does not grow with the bomb', async () => {
    const before = process.memoryUsage().arrayBuffers;
    const error = await errorOf(readBundle(lyingBomb));
    const grown = process.memoryUsage().arrayBuffers - before;
    expect(error?.code).toBe('InvalidInput');
    expect(error?.message).toBe('bundle refused: entry "handover.md" expands beyond its declared 2048 bytes (sizes are enforced on the real output)');
    // Unbounded, this read held the 200 MB (and jszip a 400 MB string besides); the declared size stops it at one chunk.
    expect(grown).toBeLessThan(64 << 20);
  });

  it('stops inflating a lying entry at its declared size: refusing a 200 MB bomb declared as 2 KB costs a few ms of CPU, not a decode of 200 MB', async () => {
    const zip = await openZip(lyingBomb, BUNDLE_LIMITS);
    const cpu = process.cpuUsage();
    const error = await errorOf(zip.read('handover.md'));
    const { user, system } = process.cpuUsage(cpu);
    expect(error?.message).toMatch(/entry "handover\.md" expands beyond its declared 2048 bytes/);
    // Decoding all 200 MB (what a decoder that only drops the bytes past its buffer does) takes
    // hundreds of ms of CPU on any machine; zlib stopping at the cap takes well under one.
    expect((user + system) / 1000).toBeLessThan(100);
  });

  it('refuses an encrypted entry and a compression method other than stored or deflate when opening, naming the entry', async () => {
    expect((await errorOf(openZip(await makeZip([{ name: 'secret.txt', body: 'x', flags: 0x1 }]), BUNDLE_LIMITS)))?.message).toBe('zip: entry "secret.txt" is encrypted');
    expect((await errorOf(openZip(await makeZip([{ name: 'bzip2.txt', body: 'y', method: 12 }]), BUNDLE_LIMITS)))?.message).toBe('zip: entry "bzip2.txt" uses compression method 12');
  });

  it('counts the total across entries and refuses the entry that passes it', async () => {
    const zip = await openZip(await makeZip([{ name: 'a.txt', repeat: 800 }, { name: 'b.txt', repeat: 800 }]), { ...BUNDLE_LIMITS, maxEntryBytes: 1000, maxTotalBytes: 1500 });
    expect((await zip.read('a.txt')).length).toBe(800);
    expect((await zip.read('a.txt')).length).toBe(800); // cached: counted once
    const error = await errorOf(zip.read('b.txt'));
    expect(error?.message).toBe('zip refused: entry "b.txt" declares 800 bytes (total limit 1500 bytes for the archive)');
  });

  it('runtime handoff load exits 2 with one line naming the entry and the limit', async () => {
    const file = path.join(dir, 'bomb.zip');
    writeFileSync(file, lyingBomb);
    const run = await runCli(['handoff', 'load', file], { BTC_TS_DATA_DIR: dir, BTC_TS_LOGS_DIR: path.join(dir, 'logs') });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/entry "handover\.md" expands beyond its declared 2048 bytes/);
  }, 120_000);
});

/** An FsStore whose get() waits for `release()`; `getting` fires when a get starts. */
function gatedStore(root: string) {
  const inner = createFsStore({ root });
  const events = new (class extends EventTarget {})();
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  let gets = 0;
  const store: ObjectStore = new Proxy(inner, {
    get(target, name, receiver) {
      if (name !== 'get') return Reflect.get(target, name, receiver);
      return async (key: string): Promise<GetResult> => {
        gets++;
        events.dispatchEvent(new Event('getting'));
        await gate;
        return target.get(key);
      };
    },
  });
  return {
    store,
    inner,
    gets: () => gets,
    getting: () => once(events, 'getting'),
    release() {
      open();
      gate = Promise.resolve();
    },
  };
}

describe('ToDo card (NextTasksSource)', () => {
  it('load() answers while the bundle read is in flight, then serves the refreshed, cached tasks', async () => {
    const root = path.join(dir, 'card-store');
    const gated = gatedStore(root);
    await gated.inner.put('handoff/Handoff_20260102_0300.zip', await makeZip([{ name: 'handover.md', body: '## Next\n- from the bundle\n' }]));
    const source = new NextTasksSource(gated.store, path.join(dir, 'no-handover.md'));

    const getting = gated.getting();
    const first = await source.load(); // the download is held: load() must not wait for it
    await getting;
    expect(first).toEqual({ source: null, tasks: [], note: 'loading the handover tasks…' });

    const refreshed = once(source, 'refreshed');
    gated.release();
    const [result] = await refreshed;
    expect(result.tasks).toEqual([{ text: 'from the bundle', done: false }]);
    expect(await source.load()).toEqual(result);
    expect(gated.gets()).toBe(1); // same key + ETag: not downloaded again
  });

  it('refuses a bomb with a note naming the limit, falls back to docs/handover.md, and does not inflate it again', async () => {
    const root = path.join(dir, 'bomb-store');
    const gated = gatedStore(root);
    gated.release();
    await gated.inner.put('handoff/Handoff_20260103_0000.zip', lyingBomb);
    const repoHandover = path.join(dir, 'handover.md');
    writeFileSync(repoHandover, '## Next\n- from the repo\n');
    const source = new NextTasksSource(gated.store, repoHandover);
    const before = process.memoryUsage().arrayBuffers;
    const result = await source.refresh();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
    expect(result.tasks).toEqual([{ text: 'from the repo', done: false }]);
    expect(result.note).toMatch(/^latest handoff bundle unreadable: handoff\/Handoff_20260103_0000\.zip refused: entry "handover\.md" expands beyond its declared 2048 bytes/);
    await source.refresh();
    expect(gated.gets()).toBe(1);
  });
});
