// test/handoff-files.test.ts
// The pieces of a bundle on their own: exclusion globs, the directory walk without git, handover parsing, samples, the daily schedule.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Cron } from 'croner';
import { afterAll, describe, expect, it } from 'vitest';
import handoffSchedule from '../schedules/handoff.ts';
import { isoDate } from '../runtime/clock.ts';
import { bundleName } from '../runtime/handoff/bundle.ts';
import { excluder, globToRegExp, headerLines, listRepoFiles } from '../runtime/handoff/files.ts';
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

  it('lists only the tracked files it is given that exist on disk, minus the fixed exclusions', async () => {
    const repo: TempRepo = await createTempRepo({ 'a.ts': '// a\n', '.env': 'X=1\n', 'data/x': '', 'src/b.ts': '', 'stray.env.txt': 'TOKEN=1\n' });
    cleanups.push(() => repo.dispose());
    const tracked = ['a.ts', '.env', 'data/x', 'src/b.ts', 'gone.ts'];
    expect((await listRepoFiles(repo.dir, tracked, [])).map((f) => f.path)).toEqual(['a.ts', 'src/b.ts']);
  });

  it('header lines: the first two comment lines, after a shebang; nothing when the file opens with code', () => {
    expect(headerLines('# a.yaml\n# config\nkey: 1\n')).toEqual(['# a.yaml', '# config']);
    expect(headerLines('<!-- docs/x.md -->\n<!-- about x -->\n# Title\n')).toEqual(['<!-- docs/x.md -->', '<!-- about x -->']);
    expect(headerLines('// only one\nconst x = 1;\n')).toEqual(['// only one']);
    expect(headerLines('import x from "y";\n// late\n')).toEqual([]);
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
