// runtime/git/repo.ts
// Opens a git repository for isomorphic-git (worktrees included) and reads branch, status, tags and commits (the git CLI when on PATH).

import fs from 'node:fs';
import path from 'node:path';
import type IsomorphicGit from 'isomorphic-git';
import { defaultGitBinary, gitSummaryCli, summaryOf } from './git-cli.ts';

/** isomorphic-git, imported on first use: a few hundred ms of start-up the git CLI path never pays. */
let isogit: Promise<typeof IsomorphicGit> | undefined;
const loadGit = () => (isogit ??= import('isomorphic-git').then((m) => m.default));

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
  const git = await loadGit();
  try {
    return await git.resolveRef({ ...repo, ref: 'HEAD' });
  } catch {
    return null; // an empty repository
  }
}

type StatusRow = [string, number, number, number];

/** One pass over the working tree: the walk that costs, so callers share its result. */
async function statusRows(repo: GitRepo, cache: object = {}): Promise<StatusRow[]> {
  const git = await loadGit();
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
  const git = await loadGit();
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

export interface GitSummaryOptions {
  /**
   * The git executable tried first (execFile, no shell); null goes straight to isomorphic-git.
   * Default: `git` found on PATH by findOnPath (absolute entries only, never the current
   * directory), looked up once per process. Any failure of it (absent, too old, a repository it refuses as of
   * "dubious ownership") falls back to isomorphic-git, which gives the same summary.
   */
  gitBinary?: string | null;
}

/**
 * Branch, HEAD, working-tree changes, tags, the last `commitCount` commits and the tracked files.
 * Through the git CLI when it runs (git compares the index's stat data and hashes only files whose
 * stat differs: tens of ms for thousands of files), else isomorphic-git (gitSummaryIsomorphic).
 */
export async function gitSummary(repo: GitRepo, commitCount = 20, options: GitSummaryOptions = {}): Promise<GitSummary> {
  const binary = options.gitBinary === undefined ? defaultGitBinary() : options.gitBinary;
  const viaCli = binary ? await gitSummaryCli(repo, commitCount, binary) : null;
  return viaCli ?? gitSummaryIsomorphic(repo, commitCount);
}

/** gitSummary through isomorphic-git alone (no git executable needed): one statusMatrix walk. */
export async function gitSummaryIsomorphic(repo: GitRepo, commitCount = 20): Promise<GitSummary> {
  const git = await loadGit();
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
  return summaryOf({
    branch,
    head,
    changes,
    tags,
    commits,
    // stage 0 = absent from the index (untracked, or `git rm --cached`); workdir 0 = deleted from disk.
    trackedFiles: rows.filter(([, , workdir, stage]) => stage !== 0 && workdir !== 0).map(([file]) => file),
  });
}

function toCommitInfo(entry: Awaited<ReturnType<typeof IsomorphicGit.log>>[number]): CommitInfo {
  const { author, message } = entry.commit;
  return {
    oid: entry.oid,
    date: new Date(author.timestamp * 1000).toISOString(),
    author: author.name,
    message: message.split('\n')[0]!.trim(),
  };
}
