// test/handoff-checks.test.ts
// The checks a bundle passes as it is written (secrets per entry, the load limits) and the time-sliced file calls that feed it.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfig } from '../config/schema.ts';
import { openRepo } from '../runtime/git/repo.ts';
import { buildBundle, type BundleSources } from '../runtime/handoff/bundle.ts';
import { readBundle } from '../runtime/handoff/read.ts';
import { timeSliced } from '../runtime/handoff/files.ts';
import { openZip } from '../runtime/handoff/unzip.ts';
import { createMasker, type Masker } from '../runtime/secrets.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createTempRepo } from './helpers/git-repo.ts';

const SECRET = 'per-entry-secret-6b1d9f3c';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).reverse().forEach((dispose) => dispose()));

async function bundleOf(files: Record<string, string>, overrides: Partial<BundleSources> = {}) {
  const repo = await createTempRepo(files);
  cleanups.push(repo.dispose);
  await repo.commitAll('files');
  const data = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-handoff-checks-'));
  cleanups.push(() => rmSync(data, { recursive: true, force: true }));
  return buildBundle({
    repoDir: repo.dir,
    repo: await openRepo(repo.dir),
    settings: defaultConfig().handoff,
    nowMs: Date.UTC(2026, 0, 2, 3, 4),
    identity: { host: 'pc', actor: 'op', site: 's', mode: 'DEBUG', session: 'sess' },
    masker: createMasker({ BTC_TS_API_TOKEN: SECRET }),
    store: createFsStore({ root: path.join(data, 'store') }),
    streams: [],
    logsDir: path.join(data, 'logs'),
    restorePoint: null,
    ...overrides,
  });
}

/** A masker that knows the secret but masks nothing: what the per-entry scan is the guard against. */
const leakyMasker: Masker = { text: (s) => s, value: (v) => v, values: [SECRET] };

describe('bundle checks made as each entry is written', () => {
  it('a secret value the masker let through refuses the bundle, naming the entry and never the value', async () => {
    const error = await bundleOf({ 'ok.ts': '// ok.ts\n// fine\n', 'src/leak.ts': `export const t = '${SECRET}';\n` }, { masker: leakyMasker }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/^handoff bundle refused: a secret value was found in .*repo\/src\/leak\.ts/);
    expect(error?.message).not.toContain('repo/ok.ts');
    expect(error?.message).not.toContain(SECRET);
  });

  it('a file named after a secret value refuses the bundle, the refusal naming it with the value masked', async () => {
    // Paths are not masked (they are the repository's structure): the scan of each entry's name is what stops it.
    const error = await bundleOf({ 'ok.ts': '// ok.ts\n// fine\n', [`src/${SECRET}.ts`]: '// named after it\n' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/^handoff bundle refused: a secret value was found in .*repo\/src\/\*\*\*\.ts/);
    expect(error?.message).not.toContain(SECRET);
    expect(error?.message).not.toContain('repo/ok.ts');
  });

  it('a file named with a secret-shaped part is refused, the refusal printing that part masked', async () => {
    const error = await bundleOf({ 'API_TOKEN=abcd1234efgh.txt': 'nothing here\n' }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/a secret value was found in .*repo\/API_TOKEN=\*\*\*/);
    expect(error?.message).not.toContain('abcd1234efgh');
  });

  it('a secret-shaped string (no value known) left unmasked refuses the bundle too', async () => {
    // In a source file: a config-like file (.ini, .yaml, …) would have its value found by key and masked anyway.
    const shaped = { text: (s: string) => s, value: <T>(v: T) => v, values: [] } satisfies Masker;
    const error = await bundleOf({ 'src/db.ts': 'const db_password = "hunter2hunter2";\n' }, { masker: shaped }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/a secret value was found in .*repo\/src\/db\.ts/);
    expect(error?.message).not.toContain('hunter2hunter2');
  });

  it('the real masker: the same files give a bundle that loads, with the secret masked', async () => {
    const bundle = await bundleOf({ 'src/leak.ts': `export const t = '${SECRET}';\n` });
    expect((await readBundle(bundle.bytes, bundle.sha256)).files).toContain('repo/src/leak.ts');
    expect((await (await openZip(bundle.bytes)).read('repo/src/leak.ts')).toString()).toBe("export const t = '***';\n");
  });

  it('an entry handoff load would refuse (2 MiB compressing past 100:1) refuses the bundle as it is made', async () => {
    const settings = { ...defaultConfig().handoff, maxFileBytes: 4 << 20 };
    const error = await bundleOf({ 'flat.txt': 'a'.repeat(2 << 20) }, { settings }).then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).toBe('bundle refused: entry "repo/flat.txt" declares 2 MiB (compression ratio limit 100:1)');
  });

  it('a big entry refused while the next windows are read rejects the bundle with the refusal, never an unhandled rejection', async () => {
    const settings = { ...defaultConfig().handoff, maxFileBytes: 4 << 20 };
    // The flat file compresses in the thread pool while 130 more files (three more windows) are read.
    const files: Record<string, string> = { 'a-flat.txt': 'a'.repeat(2 << 20) };
    for (let i = 0; i < 130; i++) files[`b/${String(i).padStart(3, '0')}.txt`] = `${i} `.repeat(200_000 + i);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const error = await bundleOf(files, { settings }).then(
        () => null,
        (e: Error) => e,
      );
      expect(error?.message).toBe('bundle refused: entry "repo/a-flat.txt" declares 2 MiB (compression ratio limit 100:1)');
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('config files read once', () => {
  it('a config file over maxFileBytes is listed, not copied, and its secrets by key are still masked elsewhere', async () => {
    const hook = 'https://hooks.example.org/x/cfg-4e7a9c1b2d';
    const settings = { ...defaultConfig().handoff, maxFileBytes: 200 };
    const bundle = await bundleOf(
      {
        'config/big.yaml': `alerts:\n  webhookUrls:\n    - ${hook}\npadding: "${'p'.repeat(300)}"\n`,
        'config/small.yaml': 'name: small\n',
        'src/uses.ts': `// src/uses.ts\n// posts to ${hook}\n`,
      },
      { settings },
    );
    const zip = await openZip(bundle.bytes);
    expect((await zip.read('repo/src/uses.ts')).toString()).toBe('// src/uses.ts\n// posts to ***\n');
    expect((await zip.read('repo/config/small.yaml')).toString()).toBe('name: small\n'); // kept from the secrets pass, whole
    expect(bundle.files).toEqual(expect.arrayContaining(['repo/config/small.yaml', 'repo/src/uses.ts']));
    expect(bundle.files).not.toContain('repo/config/big.yaml');
    const loaded = await readBundle(bundle.bytes, bundle.sha256);
    expect(loaded.files).toContain('repo/config/small.yaml');
  });
});

describe('timeSliced', () => {
  it('keeps order and results, and gives the event loop a turn once a slice has run 8 ms', async () => {
    let turns = 0;
    const tick = () => {
      turns++;
      if (turns < 1000) setImmediate(tick);
    };
    setImmediate(tick);
    const busy = (n: number) => {
      const until = performance.now() + 3;
      while (performance.now() < until);
      return n * 2;
    };
    const out = await timeSliced([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], busy);
    expect(out).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20]);
    // 30 ms of work in slices of at most 8 ms (+ one item): the other callback ran in between, several times.
    expect(turns).toBeGreaterThanOrEqual(3);
    turns = 1000; // stop the ticker
  });

  it('awaits an item whose result is a promise (a big file read off the main thread) in its place', async () => {
    const out = await timeSliced([1, 2, 3, 4], (n) => (n % 2 === 0 ? new Promise<number>((resolve) => setTimeout(() => resolve(n * 10), 5 - n)) : n * 10));
    expect(out).toEqual([10, 20, 30, 40]);
    await expect(timeSliced([1, 2], (n) => (n === 2 ? Promise.reject(new Error('unreadable 2')) : n))).rejects.toThrow('unreadable 2');
  });

  it('an error thrown for one item rejects the whole call', async () => {
    await expect(
      timeSliced(['a', 'b'], (s) => {
        if (s === 'b') throw new Error('unreadable b');
        return s;
      }),
    ).rejects.toThrow('unreadable b');
  });
});
