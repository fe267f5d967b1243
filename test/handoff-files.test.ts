// test/handoff-files.test.ts
// The pieces of a bundle on their own: exclusion globs, the directory walk without git, handover parsing, samples, the daily schedule.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cron } from 'croner';
import { afterAll, describe, expect, it } from 'vitest';
import handoffSchedule from '../schedules/handoff.ts';
import { isoDate } from '../runtime/clock.ts';
import { bundleName } from '../runtime/handoff/bundle.ts';
import { excluder, globToRegExp, headBytes, headerLines, listRepoFiles, readRepoFile, SYNC_READ_MAX_BYTES } from '../runtime/handoff/files.ts';
import { parseHandover } from '../runtime/handoff/handover.ts';
import { rawSamples } from '../runtime/handoff/samples.ts';
import { createMasker } from '../runtime/secrets.ts';
import { createFsStore } from '../runtime/store/fs.ts';
import { createTempRepo, type TempRepo } from './helpers/git-repo.ts';

const cleanups: Array<() => void> = [];
afterAll(() => cleanups.forEach((c) => c()));

describe('exclusions', () => {
  it('globs: * within a segment, ** across, bare names anywhere, directories cover their content', () => {
    expect(globToRegExp('*.pem').test('deep/dir/server.pem')).toBe(true);
    expect(globToRegExp('docs/rules/**').test('docs/rules/a/b.md')).toBe(true);
    expect(globToRegExp('docs/rules/**').test('src/docs/rules/x.md')).toBe(false);
    expect(globToRegExp('docs/design').test('docs/design/overview.md')).toBe(true);
    expect(globToRegExp('src/*.ts').test('src/a/b.ts')).toBe(false);
    expect(globToRegExp('file?.txt').test('file1.txt')).toBe(true);
    const isExcluded = excluder(['secret-notes/**']);
    for (const p of ['.env', 'sub/.env.production', 'node_modules/x/index.js', 'data/nas/a.jsonl', 'keys/id_rsa', 'a/b.key', 'secret-notes/x.md', '.npmrc']) {
      expect(isExcluded(p), p).toBe(true);
    }
    for (const p of ['src/env.ts', 'docs/keys.md', 'functions/handoff.ts', 'environment.md']) expect(isExcluded(p), p).toBe(false);
  });

  it('a glob without a slash matches a whole segment anywhere, exactly as `^(?:.*/)?glob(?:/.*)?$` would', () => {
    // `**/glob` is anchored: the expression globToRegExp wrote for `glob` before (it backtracked over every slash).
    const reference = (glob: string) => globToRegExp(`**/${glob}`);
    expect(String(reference('*.log'))).toBe(String(/^(?:.*\/)?[^/]*\.log(?:\/.*)?$/s));
    const globs = ['*.log', '.env*', 'node_modules', 'id_rsa*', 'a*b', 'foo**bar', '**', '?x', 'SPEC.md', 'Handoff_*.zip'];
    const paths = ['a\nb/x.log', 'x\u2028y.log', 'foo/x\ny/bar', 'x.log', 'a/b/x.log', 'x.log/inner', 'x.logs', '.env', 'a/.env.local', 'node_modules/p/i.js', 'a/node_modules', 'a/node_modulesx/y', 'id_rsa', 'k/id_rsa.pub',
      'ab', 'a/xb/c', 'a/b', 'foo/x/bar', 'foo/bar/baz', 'xfoo/bar', 'foobar', 'zx', 'q/zx/r', 'zzx', 'SPEC.md', 'docs/SPEC.md', 'SPECxmd', 'Handoff_1.zip', 'a/Handoff_x.zip', 'Handoff_.zip.bak', ''];
    for (const glob of globs) for (const p of paths) expect(globToRegExp(glob).test(p), `${glob} on ${p}`).toBe(reference(glob).test(p));
  });

  it('a path with a line break is excluded like any other (git paths may hold one); `dir/` means the folder anywhere', () => {
    const isExcluded = excluder(['secrets/', 'docs/rules/']);
    for (const p of ['data/a\nb.jsonl', 'node_modules/x\u2028y/i.js', 'a\nb/.env', 'logs/x\r.log', '.git/a\u2029b', 'secrets/a.txt', 'deep/secrets/b.txt', 'docs/rules/x.md']) {
      expect(isExcluded(p), JSON.stringify(p)).toBe(true);
    }
    for (const p of ['src/a\nb.ts', 'secretsx/a.txt', 'src/docs/rules/x.md']) expect(isExcluded(p), JSON.stringify(p)).toBe(false);
  });

  it('lists the tracked files it is given, sorted, minus the fixed exclusions', () => {
    expect(listRepoFiles(['src/b.ts', 'a.ts', '.env', 'data/x', 'gone.ts', 'keys/k.pem'], ['src/**'])).toEqual(['a.ts', 'gone.ts']);
  });

  it('reads regular files only: a path that is gone, a symlink, a directory or a FIFO is null, never followed nor waited on', async () => {
    const repo: TempRepo = await createTempRepo({ 'a.ts': '// a\n', 'big.txt': 'x'.repeat(10_000), 'sub/c.ts': '' });
    cleanups.push(() => repo.dispose());
    const at = (rel: string) => path.join(repo.dir, rel);
    expect(readRepoFile(at('a.ts'), 100, 4)).toEqual({ bytes: 5, body: Buffer.from('// a\n') });
    // Over the whole-file limit: its true size, and only its head.
    expect(readRepoFile(at('big.txt'), 100, 4)).toEqual({ bytes: 10_000, body: Buffer.from('xxxx') });
    expect(readRepoFile(at('gone.ts'), 100, 4)).toBeNull();
    expect(readRepoFile(at('sub'), 100, 4)).toBeNull();
    symlinkSync(at('a.ts'), at('link.ts'));
    expect(readRepoFile(at('link.ts'), 100, 4)).toBeNull();
    if (process.platform !== 'win32') {
      execFileSync('mkfifo', [at('pipe')]);
      expect(readRepoFile(at('pipe'), 100, 4)).toBeNull();
    }
    // Over the synchronous-read size: read through the thread pool, the same bytes.
    writeFileSync(at('large.bin'), Buffer.alloc(SYNC_READ_MAX_BYTES + 10, 7));
    const large = await readRepoFile(at('large.bin'), Infinity, 4);
    expect(large?.bytes).toBe(SYNC_READ_MAX_BYTES + 10);
    expect(large?.body.equals(Buffer.alloc(SYNC_READ_MAX_BYTES + 10, 7))).toBe(true);
  });

  it('header lines: the first two comment lines, after a shebang; nothing when the file opens with code', () => {
    expect(headerLines('# a.yaml\n# config\nkey: 1\n')).toEqual(['# a.yaml', '# config']);
    expect(headerLines('<!-- docs/x.md -->\n<!-- about x -->\n# Title\n')).toEqual(['<!-- docs/x.md -->', '<!-- about x -->']);
    expect(headerLines('// only one\nconst x = 1;\n')).toEqual(['// only one']);
    expect(headerLines('import x from "y";\n// late\n')).toEqual([]);
  });

  it('header lines from the first bytes alone (headBytes) are those of the first 1,024 characters of the whole text', () => {
    const long = '// ' + 'x'.repeat(1500);
    const texts = [
      '// a.ts\n// purpose\nexport const a = 1;\n'.repeat(30),
      '#!/usr/bin/env node\n// bin/x.mjs\n// runs x\ncode();\n',
      '#!/usr/bin/env node\r\n// bin/x.mjs\r\n// runs x\r\ncode();\r\n',
      '// crlf.ts\r\n// lines\r\n',
      '// one line, no feed',
      '',
      '\n\n\n\n',
      long,
      `// first\n${long}\n// third\n`,
      `#!shebang ${'y'.repeat(1020)}\n// cut at 1,024 characters\n`,
      'code();\n// late\n// later\n',
    ];
    for (const text of texts) {
      const body = Buffer.from(text, 'latin1');
      expect(headerLines(body.toString('latin1', 0, headBytes(body, 1024))), JSON.stringify(text.slice(0, 40))).toEqual(headerLines(text.slice(0, 1024)));
    }
    expect(headBytes(Buffer.from('a\nb\nc\nd\n'), 1024)).toBe(6);
    expect(headBytes(Buffer.from('x'.repeat(2000)), 1024)).toBe(1024);
  });
});

describe('handover.md', () => {
  it('reads the phase and the done / remaining / next sections, with synonyms and checkboxes', () => {
    const text = '# H\n**Phase:** beta\n\n## Completed\n- a\n\n## Open tasks\n- [ ] b\n- [x] c\n\n## Next steps\n1. d\n2) e\n\n## Notes\n- ignored\n';
    expect(parseHandover(text)).toEqual({ phase: 'beta', done: ['a'], remaining: ['b', 'c'], next: ['d', 'e'] });
  });
});

describe('raw samples', () => {
  it('takes the newest segment of each stream from the recent partitions, masked', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-samples-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const store = createFsStore({ root });
    const now = Date.now();
    const prefix = 'raw/emu/ticker/ETH-USDT/';
    await store.put(`${prefix}dt=2020-01-01/000001-000000000001.jsonl`, '{"seq":1}\n');
    await store.put(`${prefix}dt=${isoDate(now - 86_400_000)}/000002-000000000001.jsonl`, '{"seq":10}\n');
    await store.put(`${prefix}dt=${isoDate(now)}/000002-000000000050.jsonl`, '{"seq":50,"k":"hush-hush-value"}\n{"seq":51}\n{"seq":52}\n');
    const samples = await rawSamples(store, [{ exchange: 'emu', topic: 'ticker', symbols: ['ETH/USDT', 'BTC/USDT'] }], 2, createMasker({ BTC_TS_API_TOKEN: 'hush-hush-value' }), now);
    expect(samples).toEqual([{ name: 'samples/raw/emu/ticker/ETH-USDT.jsonl', text: '{"seq":50,"k":"***"}\n{"seq":51}\n' }]);
  });
});

describe('bundle name', () => {
  it('is Handoff_YYYYMMDD_HHMM.zip in UTC', () => {
    expect(bundleName(Date.UTC(2026, 0, 2, 9, 5, 59))).toBe('Handoff_20260102_0905.zip');
  });
});

describe('daily schedule', () => {
  it('runs handoff once a day at 23:55 local time', () => {
    expect(handoffSchedule.fn).toBe('handoff');
    const next = new Cron(handoffSchedule.cron!, { paused: true }).nextRun(new Date(2026, 0, 1, 12, 0))!;
    expect([next.getHours(), next.getMinutes(), next.getDate()]).toEqual([23, 55, 1]);
  });
});
