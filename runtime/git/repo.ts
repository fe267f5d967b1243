// runtime/git/repo.ts
// Opens a git repository for isomorphic-git (worktrees included) and reads branch, status, tags and commits.

import fs from 'node:fs';
import path from 'node:path';
import git from 'isomorphic-git';

/** What isomorphic-git needs to address one repository. */
export interface GitRepo {
  fs: typeof fs;
  dir: string;
  gitdir: string;
}

export interface CommitInfo {
  oid: string;
  date: string;
  author: string;
  message: string;
}

export type ChangeKind = 'modified' | 'added' | 'deleted' | 'untracked';

export interface GitSummary {
  branch: string | null;
  head: string | null;
  dirty: boolean;
  changes: Array<{ path: string; change: ChangeKind }>;
  tags: string[];
  restorePoints: string[];
  commits: CommitInfo[];
  /**
   * Tracked files (in git's index) present in the working tree: what a handoff bundle may copy.
   * Untracked files are left out even when not ignored: a stray env file or key is untracked.
   */
  trackedFiles: string[];
}

/**
 * Files git keeps per worktree (see gitrepository-layout); everything else lives in the common
 * directory. isomorphic-git does not read `commondir`, so the fs below routes paths for it.
 */
const PER_WORKTREE = /^(HEAD|index|ORIG_HEAD|FETCH_HEAD|MERGE_HEAD|CHERRY_PICK_HEAD|REVERT_HEAD|commondir|gitdir|logs\/HEAD|refs\/worktree(\/.*)?|refs\/bisect(\/.*)?)$/;

/** The repository at `dir`, or null when `dir` is not inside a git checkout. */
export async function openRepo(dir: string): Promise<GitRepo | null> {
  const root = path.resolve(dir);
  const dotgit = path.join(root, '.git');
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(dotgit);
  } catch {
    return null;
  }
  if (stat.isDirectory()) return { fs, dir: root, gitdir: dotgit };
  const pointer = /^gitdir:\s*(.+)$/m.exec(await fs.promises.readFile(dotgit, 'utf8'));
  if (!pointer) return null;
  const gitdir = path.resolve(root, pointer[1]!.trim());
  const commondirFile = path.join(gitdir, 'commondir');
  if (!fs.existsSync(commondirFile)) return { fs, dir: root, gitdir }; // a submodule: self-contained
  const commondir = path.resolve(gitdir, fs.readFileSync(commondirFile, 'utf8').trim());
  return { fs: worktreeFs(gitdir, commondir), dir: root, gitdir };
}

/** An fs whose paths under a worktree's gitdir go to the common dir unless git keeps them per worktree. */
function worktreeFs(gitdir: string, commondir: string): typeof fs {
  const prefix = gitdir + path.sep;
  const route = (p: unknown): unknown => {
    if (typeof p !== 'string' || !p.startsWith(prefix)) return p;
    const rel = p.slice(prefix.length).split(path.sep).join('/');
    return PER_WORKTREE.test(rel) ? p : path.join(commondir, rel);
  };
  const promises = new Proxy(fs.promises, {
    get(target, name, receiver) {
      const original = Reflect.get(target, name, receiver);
      if (typeof original !== 'function') return original;
      return (...args: unknown[]) => (original as (...a: unknown[]) => unknown).apply(target, args.map((a, i) => (i < 2 ? route(a) : a)));
    },
  });
  return { promises } as unknown as typeof fs;
}

export async function headOid(repo: GitRepo): Promise<string | null> {
  try {
    return await git.resolveRef({ ...repo, ref: 'HEAD' });
  } catch {
    return null; // an empty repository
  }
}

type StatusRow = [string, number, number, number];

/** One pass over the working tree: the walk that costs, so callers share its result. */
async function statusRows(repo: GitRepo, cache: object = {}): Promise<StatusRow[]> {
  return (await git.statusMatrix({ ...repo, cache })) as StatusRow[];
}

/** Working-tree changes (tracked and untracked, ignored files excluded), like `git status --porcelain`. */
export async function changedFiles(repo: GitRepo, rows?: StatusRow[]): Promise<Array<{ path: string; change: ChangeKind }>> {
  const changes: Array<{ path: string; change: ChangeKind }> = [];
  for (const [file, head, workdir, stage] of rows ?? (await statusRows(repo))) {
    if (head === 1 && workdir === 1 && stage === 1) continue;
    const change: ChangeKind = head === 0 ? (stage === 0 ? 'untracked' : 'added') : workdir === 0 ? 'deleted' : 'modified';
    changes.push({ path: file, change });
  }
  return changes;
}

export async function recentCommits(repo: GitRepo, depth: number, ref = 'HEAD', cache: object = {}): Promise<CommitInfo[]> {
  try {
    const log = await git.log({ ...repo, ref, depth, cache });
    return log.map(toCommitInfo);
  } catch {
    return [];
  }
}

/**
 * Commits reachable from HEAD that come after `since` (newest first). `known: false` when `since`
 * is not in this history (a bundle from another repository, or history rewritten).
 */
export async function commitsSince(repo: GitRepo, since: string, limit = 1000): Promise<{ known: boolean; commits: CommitInfo[] }> {
  const log = await recentCommits(repo, limit);
  const index = log.findIndex((c) => c.oid === since);
  return index === -1 ? { known: false, commits: [] } : { known: true, commits: log.slice(0, index) };
}

export async function gitSummary(repo: GitRepo, commitCount = 20): Promise<GitSummary> {
  // One shared cache: isomorphic-git then parses each pack and tree once for all the calls.
  const cache = {};
  const [branch, head, rows, tags, commits] = await Promise.all([
    git.currentBranch({ ...repo, fullname: false }).then((b) => b ?? null),
    headOid(repo),
    statusRows(repo, cache),
    git.listTags({ ...repo }),
    recentCommits(repo, commitCount, 'HEAD', cache),
  ]);
  const changes = await changedFiles(repo, rows);
  return {
    branch,
    head,
    dirty: changes.length > 0,
    changes,
    tags: tags.filter((t) => !t.startsWith('rp/')),
    restorePoints: tags.filter((t) => t.startsWith('rp/')),
    commits,
    // stage 0 = absent from the index (untracked, or `git rm --cached`); workdir 0 = deleted from disk.
    trackedFiles: rows.filter(([, , workdir, stage]) => stage !== 0 && workdir !== 0).map(([file]) => file),
  };
}

function toCommitInfo(entry: Awaited<ReturnType<typeof git.log>>[number]): CommitInfo {
  const { author, message } = entry.commit;
  return {
    oid: entry.oid,
    date: new Date(author.timestamp * 1000).toISOString(),
    author: author.name,
    message: message.split('\n')[0]!.trim(),
  };
}
