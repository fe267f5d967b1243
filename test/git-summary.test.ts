// test/git-summary.test.ts
// gitSummary through the git CLI and through isomorphic-git give the same answer: changes of every kind, tracked files, tags, commits, worktrees, an empty repository.

import { execFileSync } from 'node:child_process';
import fs, { rmSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';
import { afterEach, describe, expect, it } from 'vitest';
import { findOnPath, gitSummaryCli } from '../runtime/git/git-cli.ts';
import { gitSummary, gitSummaryIsomorphic, openRepo, type GitSummary } from '../runtime/git/repo.ts';
import { createTempRepo, TEST_AUTHOR, type TempRepo } from './helpers/git-repo.ts';

const cleanups: Array<() => void> = [];
afterEach(() => cleanups.splice(0).forEach((dispose) => dispose()));

async function tempRepo(files: Record<string, string>): Promise<TempRepo> {
  const repo = await createTempRepo(files);
  cleanups.push(repo.dispose);
  return repo;
}

/** trackedFiles carry no order (listRepoFiles sorts them); everything else is compared as it is. */
const comparable = (s: GitSummary | null) => s && { ...s, trackedFiles: [...s.trackedFiles].sort() };

/** A repository in every state statusMatrix tells apart, with tags (one annotated rp/) and three commits. */
async function busyRepo(): Promise<TempRepo> {
  const repo = await tempRepo({
    '.gitignore': 'ignored.log\nbuild/\n',
    'keep.ts': 'keep\n',
    'mod.ts': 'v1\n',
    'del.ts': 'del\n',
    'staged-del.ts': 'staged\n',
    'rmcached.ts': 'cached\n',
    'a/b.ts': 'ab\n',
    'a-b.ts': 'a-b\n',
    'with space ü.ts': 'spaced\n',
  });
  const dir = repo.dir;
  await repo.commitAll('first');
  await git.tag({ fs, dir, ref: 'v1.0' });
  repo.write('keep.ts', 'keep 2\n');
  await repo.commitAll('second\n\nwith a body');
  await git.annotatedTag({ fs, dir, ref: 'rp/20260101-0000-base', message: 'rp', tagger: TEST_AUTHOR });
  repo.write('keep.ts', 'keep 3\n');
  await repo.commitAll('third');

  repo.write('mod.ts', 'v2 unstaged\n'); // modified in the working tree
  repo.write('a/b.ts', 'ab staged\n'); // modified and staged
  await git.add({ fs, dir, filepath: 'a/b.ts' });
  repo.write('a-b.ts', 'a-b changed\n');
  repo.write('with space ü.ts', 'spaced and changed\n'); // porcelain fields are split on spaces, -z leaves names unquoted
  unlinkSync(path.join(dir, 'del.ts')); // deleted from disk, still in the index
  await git.remove({ fs, dir, filepath: 'staged-del.ts' }); // `git rm`
  unlinkSync(path.join(dir, 'staged-del.ts'));
  await git.remove({ fs, dir, filepath: 'rmcached.ts' }); // `git rm --cached`: still on disk
  repo.write('added.ts', 'added\n');
  await git.add({ fs, dir, filepath: 'added.ts' });
  repo.write('added-gone.ts', 'gone\n'); // added, then deleted from disk
  await git.add({ fs, dir, filepath: 'added-gone.ts' });
  unlinkSync(path.join(dir, 'added-gone.ts'));
  repo.write('new.ts', 'untracked\n');
  repo.write('dir/inner.ts', 'untracked inside a directory\n');
  repo.write('ignored.log', 'ignored\n');
  repo.write('build/out.js', 'ignored directory\n');
  return repo;
}

describe('gitSummary: git CLI and isomorphic-git agree', () => {
  it('modified, staged, deleted, git rm, git rm --cached, added, added-then-deleted, untracked and ignored files; tags; commits', async () => {
    const repo = await busyRepo();
    const handle = (await openRepo(repo.dir))!;
    const viaCli = await gitSummaryCli(handle, 2);
    const viaIsomorphic = await gitSummaryIsomorphic(handle, 2);
    expect(viaCli).not.toBeNull();
    expect(comparable(viaCli)).toEqual(comparable(viaIsomorphic));
    // And what they agree on is right, in tree order (a/ before a-b).
    expect(viaCli!.changes).toEqual([
      { path: 'a/b.ts', change: 'modified' },
      { path: 'a-b.ts', change: 'modified' },
      { path: 'added-gone.ts', change: 'added' },
      { path: 'added.ts', change: 'added' },
      { path: 'del.ts', change: 'deleted' },
      { path: 'dir/inner.ts', change: 'untracked' },
      { path: 'mod.ts', change: 'modified' },
      { path: 'new.ts', change: 'untracked' },
      { path: 'rmcached.ts', change: 'modified' },
      { path: 'staged-del.ts', change: 'deleted' },
      { path: 'with space ü.ts', change: 'modified' },
    ]);
    expect([...viaCli!.trackedFiles].sort()).toEqual(['.gitignore', 'a-b.ts', 'a/b.ts', 'added.ts', 'keep.ts', 'mod.ts', 'with space ü.ts']);
    expect(viaCli).toMatchObject({ branch: 'main', dirty: true, tags: ['v1.0'], restorePoints: ['rp/20260101-0000-base'] });
    expect(viaCli!.commits.map((c) => c.message)).toEqual(['third', 'second']);
    expect(viaCli!.commits[0]).toMatchObject({ author: TEST_AUTHOR.name, oid: viaCli!.head });
  });

  it('without a git executable gitSummary falls back to isomorphic-git with the same answer', async () => {
    const repo = await busyRepo();
    const handle = (await openRepo(repo.dir))!;
    expect(await gitSummaryCli(handle, 20, 'btc-ts-no-such-git')).toBeNull();
    const fallback = await gitSummary(handle, 20, { gitBinary: 'btc-ts-no-such-git' });
    expect(comparable(fallback)).toEqual(comparable(await gitSummary(handle, 20)));
    expect(comparable(await gitSummary(handle, 20, { gitBinary: null }))).toEqual(comparable(fallback));
  });

  it('an empty repository (no commit yet) and a clean one', async () => {
    const repo = await tempRepo({ 'first.ts': 'x\n' });
    const handle = (await openRepo(repo.dir))!;
    const empty = await gitSummaryCli(handle);
    expect(comparable(empty)).toEqual(comparable(await gitSummaryIsomorphic(handle)));
    expect(empty).toMatchObject({ branch: 'main', head: null, commits: [], changes: [{ path: 'first.ts', change: 'untracked' }], trackedFiles: [] });
    await repo.commitAll('one');
    const clean = await gitSummaryCli(handle);
    expect(comparable(clean)).toEqual(comparable(await gitSummaryIsomorphic(handle)));
    expect(clean).toMatchObject({ dirty: false, changes: [], trackedFiles: ['first.ts'] });
  });

  it('a linked worktree (a .git file pointing into the main repository) on a detached HEAD', async () => {
    const repo = await tempRepo({ 'one.ts': '1\n', 'two.ts': '2\n' });
    await repo.commitAll('one');
    const worktree = path.join(os.tmpdir(), `btc-ts-worktree-${process.pid}-${Date.now()}`);
    cleanups.push(() => rmSync(worktree, { recursive: true, force: true }));
    execFileSync('git', ['-C', repo.dir, 'worktree', 'add', '-q', '--detach', worktree, 'HEAD'], { stdio: 'ignore' });
    fs.writeFileSync(path.join(worktree, 'two.ts'), '2 changed\n');
    fs.writeFileSync(path.join(worktree, 'three.ts'), '3\n');
    const handle = (await openRepo(worktree))!;
    const viaCli = await gitSummaryCli(handle);
    expect(comparable(viaCli)).toEqual(comparable(await gitSummaryIsomorphic(handle)));
    expect(viaCli).toMatchObject({
      branch: null,
      changes: [
        { path: 'three.ts', change: 'untracked' },
        { path: 'two.ts', change: 'modified' },
      ],
    });
  });
});

describe('findOnPath: which git the handoff runs', () => {
  it('takes the first absolute PATH directory holding an executable file, never a relative entry or the current directory', () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'btc-ts-which-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const [here, plainFile, good, later] = ['here', 'plain', 'good', 'later'].map((d) => path.join(root, d));
    for (const dir of [here!, plainFile!, good!, later!]) fs.mkdirSync(dir);
    fs.writeFileSync(path.join(here!, 'fakegit'), '#!/bin/sh\n', { mode: 0o755 }); // a repository's own "git": in cwd, and named relatively
    fs.writeFileSync(path.join(plainFile!, 'fakegit'), 'not executable\n', { mode: 0o644 });
    fs.mkdirSync(path.join(later!, 'fakegit')); // a directory of that name is not a program
    fs.writeFileSync(path.join(good!, 'fakegit'), '#!/bin/sh\n', { mode: 0o755 });
    const cwd = process.cwd();
    process.chdir(here!);
    try {
      const env = { PATH: ['.', 'here', '', path.join(root, 'missing'), ...(process.platform === 'win32' ? [] : [plainFile!]), later!, good!].join(':') };
      expect(findOnPath('fakegit', env, 'linux')).toBe(path.join(good!, 'fakegit'));
      expect(findOnPath('fakegit', { PATH: ['.', here!.slice(root.length + 1)].join(':') }, 'linux')).toBeNull();
      expect(findOnPath('fakegit', {}, 'linux')).toBeNull();
    } finally {
      process.chdir(cwd);
    }
  });
});
