// runtime/git/repo.ts
// Opens a git repository for isomorphic-git (worktrees included) and reads branch, status, tags and commits (the git CLI when on PATH).

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type IsomorphicGit from 'isomorphic-git';

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

/** A git that does not answer within this is given up (killed) for isomorphic-git (ms): a hung fsmonitor hook, a stalled network drive. */
export const GIT_TIMEOUT_MS = 30_000;
/** Bytes of one git command's output held at most; more is an error, and isomorphic-git answers instead. */
const GIT_MAX_OUTPUT_BYTES = 64 << 20;

let gitOnPath: string | null | undefined;

/**
 * The absolute path of `name` in the PATH directories of `env`, or null. Only absolute PATH
 * entries count, and the current directory is never looked in: Windows' own search (libuv's, for a
 * bare name) tries the child's working directory first, which would run a `git.exe` planted in the
 * repository being bundled. On Windows the extensions are `.exe` and `.com` (execFile cannot run a
 * `.cmd` shim without a shell; such a git falls back to isomorphic-git).
 */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string | null {
  const windows = platform === 'win32';
  const pathVar = windows ? (Object.entries(env).find(([k]) => k.toUpperCase() === 'PATH')?.[1] ?? '') : (env.PATH ?? '');
  const pathApi = windows ? path.win32 : path.posix;
  const names = windows ? ['.exe', '.com'].map((ext) => name + ext) : [name];
  for (const dir of pathVar.split(windows ? ';' : ':')) {
    const clean = windows ? dir.replace(/^"(.*)"$/, '$1') : dir;
    if (!clean || !pathApi.isAbsolute(clean)) continue;
    for (const candidate of names) {
      const full = pathApi.join(clean, candidate);
      try {
        fs.accessSync(full, windows ? fs.constants.F_OK : fs.constants.X_OK);
        if (fs.statSync(full).isFile()) return full;
      } catch {
        // not here
      }
    }
  }
  return null;
}

/**
 * Branch, HEAD, working-tree changes, tags, the last `commitCount` commits and the tracked files.
 * Through the git CLI when it runs (git compares the index's stat data and hashes only files whose
 * stat differs: tens of ms for thousands of files), else isomorphic-git (gitSummaryIsomorphic).
 */
export async function gitSummary(repo: GitRepo, commitCount = 20, options: GitSummaryOptions = {}): Promise<GitSummary> {
  const binary = options.gitBinary === undefined ? (gitOnPath === undefined ? (gitOnPath = findOnPath('git')) : gitOnPath) : options.gitBinary;
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

function summaryOf(parts: Omit<GitSummary, 'dirty' | 'restorePoints'>): GitSummary {
  const tags = [...parts.tags].sort(compareNames);
  return {
    branch: parts.branch,
    head: parts.head,
    dirty: parts.changes.length > 0,
    // Tree order (a/b before a-b), whichever way they were found.
    changes: [...parts.changes].sort((a, b) => comparePaths(a.path, b.path)),
    tags: tags.filter((t) => !t.startsWith('rp/')),
    restorePoints: tags.filter((t) => t.startsWith('rp/')),
    commits: parts.commits,
    trackedFiles: parts.trackedFiles,
  };
}

const compareNames = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** Path order of a tree walk: segment by segment, so `a/b` (inside `a`) comes before `a-b`. */
function comparePaths(a: string, b: string): number {
  const x = a.split('/');
  const y = b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const order = compareNames(x[i]!, y[i]!);
    if (order !== 0) return order;
  }
  return x.length - y.length;
}

/** What git needs of the environment to find its config and temp files (any case on Windows). */
const GIT_ENV_KEYS = new Set(['PATH', 'HOME', 'USERPROFILE', 'HOMEDRIVE', 'HOMEPATH', 'SYSTEMROOT', 'WINDIR', 'TEMP', 'TMP', 'TMPDIR', 'LANG', 'LC_ALL', 'XDG_CONFIG_HOME']);

/**
 * Git's environment: only GIT_ENV_KEYS, so none of the runtime's secrets (S3 keys, webhook URLs,
 * the API token) reaches git or a hook or filter a repository's config may run; no GIT_* either
 * (a hook's GIT_DIR must not redirect the repository named here).
 */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (GIT_ENV_KEYS.has(key.toUpperCase())) env[key] = value;
  // Read-only: `git status` must not refresh (write) the index under a user's own git command.
  env.GIT_OPTIONAL_LOCKS = '0';
  return env;
}

/** stdout of `git <args>` in `repo` (execFile, no shell); rejects on a non-zero exit, on output over GIT_MAX_OUTPUT_BYTES and after GIT_TIMEOUT_MS (git killed). */
function runGit(binary: string, repo: GitRepo, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      // No fsmonitor: a repository's configured hook is a program of its own, run by every status.
      ['--git-dir', repo.gitdir, '--work-tree', repo.dir, '-c', 'core.quotePath=false', '-c', 'core.fsmonitor=false', ...args],
      { cwd: repo.dir, env: gitEnv(), encoding: 'utf8', maxBuffer: GIT_MAX_OUTPUT_BYTES, timeout: GIT_TIMEOUT_MS, killSignal: 'SIGKILL', windowsHide: true },
      (err, stdout) => (err ? reject(err) : resolve(stdout)),
    );
  });
}

/** NUL-separated fields without the empty one after the last NUL. */
const nulSplit = (out: string) => out.split('\0').filter((field, i, all) => field !== '' || i < all.length - 1);

/**
 * gitSummary through the git CLI; null when git cannot answer (not installed, refuses the
 * repository), for the caller to fall back. Changes are classified exactly as changedFiles does
 * statusMatrix rows: `??` untracked; staged addition added; a staged deletion whose file is still
 * on disk (`git rm --cached`) modified, else deleted; deleted from disk deleted; anything else modified.
 */
export async function gitSummaryCli(repo: GitRepo, commitCount = 20, binary = 'git'): Promise<GitSummary | null> {
  const run = (args: string[]) => runGit(binary, repo, args);
  try {
    const [status, indexed, tags, commits] = await Promise.all([
      // --branch: the `# branch.oid` / `# branch.head` headers give HEAD and the branch without two more processes.
      run(['status', '--porcelain=v2', '--branch', '--no-ahead-behind', '-z', '--untracked-files=all', '--no-renames', '--ignore-submodules=none']),
      run(['ls-files', '-z', '--cached']),
      run(['for-each-ref', '--format=%(refname)', 'refs/tags']),
      // Fails on an unborn branch (no commit yet); isomorphic-git's log then gives [] too.
      run(['log', '-z', `-n${commitCount}`, '--format=%H%x1f%at%x1f%an%x1f%B', 'HEAD']).then(parseLog, () => []),
    ]);
    let branch: string | null = null;
    let head: string | null = null;
    const byPath = new Map<string, string[]>();
    for (const record of nulSplit(status)) {
      const kind = record[0];
      if (kind === '#') {
        const [, key, value] = /^# (\S+) (.*)$/.exec(record) ?? [];
        if (key === 'branch.oid') head = value === '(initial)' ? null : value!;
        if (key === 'branch.head') branch = value === '(detached)' ? null : value!;
        continue;
      }
      // `1 XY sub mH mI mW hH hI path`, `u XY sub m1 m2 m3 mW h1 h2 h3 path`, `? path` (git-status(1), porcelain v2).
      const [code, file] = kind === '?' ? ['??', record.slice(2)] : kind === '1' ? [record.slice(2, 4), fieldsAfter(record, 8)] : kind === 'u' ? [record.slice(2, 4), fieldsAfter(record, 10)] : [null, null];
      if (code === null || file === null) continue; // `!` (ignored) is not asked for; `2` (renames) is turned off
      byPath.set(file, [...(byPath.get(file) ?? []), code]);
    }
    const changes: Array<{ path: string; change: ChangeKind }> = [];
    const goneFromDisk = new Set<string>();
    for (const [file, codes] of byPath) {
      const untracked = codes.includes('??');
      const staged = codes.find((c) => c !== '??');
      const [x, y] = staged ? [staged[0], staged[1]] : ['?', '?'];
      if (y === 'D') goneFromDisk.add(file);
      const change: ChangeKind = !staged ? 'untracked' : x === 'A' ? 'added' : x === 'D' ? (untracked ? 'modified' : 'deleted') : y === 'D' ? 'deleted' : 'modified';
      changes.push({ path: file, change });
    }
    return summaryOf({
      branch,
      head,
      changes,
      tags: nulSplit(tags.replace(/\n/g, '\0')).map((ref) => ref.replace(/^refs\/tags\//, '')),
      commits,
      trackedFiles: [...new Set(nulSplit(indexed))].filter((file) => !goneFromDisk.has(file)),
    });
  } catch {
    return null;
  }
}

/** What follows the first `count` space-separated fields of `record` (a path may hold spaces). */
function fieldsAfter(record: string, count: number): string | null {
  let at = 0;
  for (let i = 0; i < count; i++) {
    at = record.indexOf(' ', at) + 1;
    if (at === 0) return null;
  }
  return record.slice(at);
}

/** `git log -z --format=%H%x1f%at%x1f%an%x1f%B` records as CommitInfo (the message's first line, like toCommitInfo). */
function parseLog(out: string): CommitInfo[] {
  return nulSplit(out).map((record) => {
    const [oid, at, author, ...message] = record.split('\x1f');
    return {
      oid: oid!.trim(),
      date: new Date(Number(at) * 1000).toISOString(),
      author: author!,
      message: message.join('\x1f').split('\n')[0]!.trim(),
    };
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
