// test/restore-points.test.ts
// Restore points on a temporary git repository: rp make / list / restore, dirty tree refused, nothing destroyed.

import fs, { readFileSync } from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';
import { afterEach, describe, expect, it } from 'vitest';
import { isBtcError } from '../runtime/errors.ts';
import { openRepo } from '../runtime/git/repo.ts';
import { listRestorePoints, makeRestorePoint, restorePointName, restoreRestorePoint } from '../runtime/git/restore-points.ts';
import { createTempRepo, type TempRepo } from './helpers/git-repo.ts';
import { runCli } from './helpers/run-cli.ts';

const tagger = { name: 'alice', email: 'alice@pc-test' };
const repos: TempRepo[] = [];
afterEach(() => repos.splice(0).forEach((r) => r.dispose()));

async function twoCommitRepo() {
  const repo = await createTempRepo({ 'app.ts': '// app.ts\n// v1\n' });
  repos.push(repo);
  const first = await repo.commitAll('v1');
  return { repo, first };
}

describe('restore points', () => {
  it('names tags rp/<YYYYMMDD-HHMM>-<label> in UTC and rejects unsafe labels', () => {
    expect(restorePointName(Date.UTC(2026, 0, 2, 9, 5), 'before-sync')).toBe('rp/20260102-0905-before-sync');
    for (const bad of ['', 'has space', '../up', 'a/b', 'x.lock', '-dash']) {
      expect(() => restorePointName(0, bad), bad).toThrow(/bad restore point label/);
    }
  });

  it('make, list and restore in-process: the tag is annotated, restore lands on restore/<tag> and keeps later commits', async () => {
    const { repo, first } = await twoCommitRepo();
    const handle = (await openRepo(repo.dir))!;
    const rp = await makeRestorePoint(handle, { label: 'v1', nowMs: Date.UTC(2026, 0, 2, 9, 5), tagger });
    expect(rp).toMatchObject({ tag: 'rp/20260102-0905-v1', commit: first, created: '2026-01-02T09:05:00.000Z' });
    // Annotated: the ref points at a tag object whose target is the commit.
    const tagOid = await git.resolveRef({ fs, dir: repo.dir, ref: 'refs/tags/rp/20260102-0905-v1' });
    expect(tagOid).not.toBe(first);
    expect((await git.readTag({ fs, dir: repo.dir, oid: tagOid })).tag).toMatchObject({ object: first, tagger: { name: 'alice' } });
    await expect(makeRestorePoint(handle, { label: 'v1', nowMs: Date.UTC(2026, 0, 2, 9, 5), tagger })).rejects.toThrow(/already exists/);

    repo.write('app.ts', '// app.ts\n// v2\n');
    const second = await repo.commitAll('v2');
    expect((await listRestorePoints(handle)).map((p) => p.tag)).toEqual(['rp/20260102-0905-v1']);

    const restored = await restoreRestorePoint(handle, 'rp/20260102-0905-v1');
    expect(restored).toEqual({ branch: 'restore/rp/20260102-0905-v1', commit: first, previous: 'main' });
    expect(await git.currentBranch({ fs, dir: repo.dir })).toBe('restore/rp/20260102-0905-v1');
    expect(readFileSync(path.join(repo.dir, 'app.ts'), 'utf8')).toBe('// app.ts\n// v1\n');
    // Nothing destroyed: main still points at v2.
    expect(await git.resolveRef({ fs, dir: repo.dir, ref: 'refs/heads/main' })).toBe(second);
  });

  it('restore refuses a dirty tree (modified or untracked) and changes nothing', async () => {
    const { repo } = await twoCommitRepo();
    const handle = (await openRepo(repo.dir))!;
    await makeRestorePoint(handle, { label: 'base', nowMs: Date.UTC(2026, 0, 1), tagger });
    const [tag] = (await listRestorePoints(handle)).map((p) => p.tag);
    for (const dirty of [() => repo.write('app.ts', 'edited but not committed\n'), () => repo.write('scratch.txt', 'untracked\n')]) {
      await repo.commitAll('clean again'); // start each case clean
      dirty();
      const error = await restoreRestorePoint(handle, tag!).then(() => null, (e: unknown) => e);
      expect(isBtcError(error, 'Conflict')).toBe(true);
      expect((error as Error).message).toMatch(/working tree is dirty .* restore refused/);
      expect(await git.currentBranch({ fs, dir: repo.dir })).toBe('main');
      expect(await git.listBranches({ fs, dir: repo.dir })).toEqual(['main']);
    }
  });

  it('the CLI: rp make / list / restore with exit codes 0, 1 (dirty), 2 (bad label, unknown tag)', async () => {
    const { repo, first } = await twoCommitRepo();
    const made = await runCli(['rp', 'make', 'cli-point', '--dir', repo.dir, '--json']);
    expect(made.code).toBe(0);
    const tag = JSON.parse(made.stdout).tag as string;
    expect(tag).toMatch(/^rp\/\d{8}-\d{4}-cli-point$/);

    const [listed, badLabel, unknown] = await Promise.all([
      runCli(['rp', 'list', '--dir', repo.dir]),
      runCli(['rp', 'make', 'bad label', '--dir', repo.dir]),
      runCli(['rp', 'restore', 'rp/19990101-0000-nope', '--dir', repo.dir]),
    ]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(tag);
    expect(listed.stdout).toContain(first.slice(0, 7));
    expect(badLabel.code).toBe(2);
    expect(badLabel.stderr).toMatch(/bad restore point label/);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/no restore point/);

    repo.write('app.ts', 'dirty\n');
    const refused = await runCli(['rp', 'restore', tag, '--dir', repo.dir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/working tree is dirty/);

    await repo.commitAll('v2');
    const restored = await runCli(['rp', 'restore', tag, '--dir', repo.dir]);
    expect(restored.stderr).toBe('');
    expect(restored.code).toBe(0);
    expect(restored.stdout).toContain(`on branch restore/${tag}`);
    expect(await git.resolveRef({ fs, dir: repo.dir, ref: 'HEAD' })).toBe(first);
  }, 240_000); // eight CLI processes on a shared 2-core machine
});
