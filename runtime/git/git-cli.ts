// runtime/git/git-cli.ts
// gitSummary through the git executable: found on PATH safely, run bounded (time, output, environment), its porcelain output parsed; and the summary shape both paths share.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { ChangeKind, CommitInfo, GitRepo, GitSummary } from './repo.ts';

/** A git that does not answer within this is given up (killed) for isomorphic-git (ms): a hung fsmonitor hook, a stalled network drive. */
export const GIT_TIMEOUT_MS = 30_000;
/** Bytes of one git command's output held at most; more is an error, and isomorphic-git answers instead. */
const GIT_MAX_OUTPUT_BYTES = 64 << 20;

let gitOnPath: string | null | undefined;

/** `git` as findOnPath finds it, looked up once per process; null when there is none. */
export function defaultGitBinary(): string | null {
  if (gitOnPath === undefined) gitOnPath = findOnPath('git');
  return gitOnPath;
}

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

export function summaryOf(parts: Omit<GitSummary, 'dirty' | 'restorePoints'>): GitSummary {
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
