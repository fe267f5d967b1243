// test/helpers/git-repo.ts
// Temporary git repositories for handoff and restore-point tests, made with isomorphic-git in os.tmpdir().

import fs, { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import git from 'isomorphic-git';

export const TEST_AUTHOR = { name: 'Test Operator', email: 'operator@test.invalid' };

export interface TempRepo {
  dir: string;
  write(rel: string, content: string): void;
  /** Stages everything (additions and deletions) and commits; returns the commit oid. */
  commitAll(message: string): Promise<string>;
  dispose(): void;
}

export async function createTempRepo(files: Record<string, string> = {}): Promise<TempRepo> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-repo-'));
  await git.init({ fs, dir, defaultBranch: 'main' });
  const repo: TempRepo = {
    dir,
    write(rel, content) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), content);
    },
    async commitAll(message) {
      for (const [file, , workdir] of await git.statusMatrix({ fs, dir })) {
        if (workdir === 0) await git.remove({ fs, dir, filepath: file });
        else await git.add({ fs, dir, filepath: file });
      }
      return git.commit({ fs, dir, message, author: TEST_AUTHOR });
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
  for (const [rel, content] of Object.entries(files)) repo.write(rel, content);
  return repo;
}
