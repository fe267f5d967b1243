// runtime/handoff/files.ts
// Which repository files a handoff bundle may carry: git-tracked only, minus fixed and configured exclusions; header lines; time-sliced synchronous file calls.

import fs from 'node:fs';
import path from 'node:path';
import type { AppConfig } from '../../config/schema.ts';
import { PACKAGE_ROOT } from '../paths.ts';

/**
 * Never in a bundle, whatever the config says: environment files, keys and credentials,
 * dependencies, runtime data and logs, git internals.
 */
export const ALWAYS_EXCLUDED = [
  '.env*',
  '*.pem',
  '*.key',
  '*.p12',
  '*.pfx',
  'id_rsa*',
  'id_ed25519*',
  '*.keystore',
  '.npmrc',
  '.git/**',
  'node_modules/**',
  'data/**',
  'logs/**',
  'test-artifacts/**',
  '*.log',
  'Handoff_*.zip',
];

/**
 * Synchronous file calls run in slices of at most this long before the event loop gets a turn
 * (timeSliced): thousands of small files read synchronously cost a few µs each, against a thread-pool
 * round trip per call for the promise API (3-5× slower for a repository), while a runtime that
 * collects meanwhile is never held up for more than a slice and one file.
 */
const SLICE_MS = 8;

/**
 * `fn` over `items` in order, synchronously, yielding to the event loop (setImmediate) once a slice
 * has run SLICE_MS: for many fast synchronous calls (stat, reading small files) in a process that
 * serves other work too. An error thrown by `fn` rejects the whole call.
 */
export async function timeSliced<T, R>(items: readonly T[], fn: (item: T) => R | Promise<R>): Promise<R[]> {
  const out: R[] = [];
  let sliceStart = performance.now();
  for (const item of items) {
    if (performance.now() - sliceStart >= SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      sliceStart = performance.now();
    }
    const result = fn(item);
    // A promise (a big file read off the main thread) is awaited; a plain value costs no microtask.
    out.push(result instanceof Promise ? await result : result);
  }
  return out;
}

/** Files larger than this are read with the promise API: one synchronous read must not hold the event loop for long (bytes). */
export const SYNC_READ_MAX_BYTES = 1 << 20;

/** The whole file at `full`, `bytes` long when listed: synchronously when small (see timeSliced), else off the main thread. */
export function readWholeFile(full: string, bytes: number): Buffer | Promise<Buffer> {
  return bytes > SYNC_READ_MAX_BYTES ? fs.promises.readFile(full) : fs.readFileSync(full);
}

/** This installation's own directory (the source tree, also when running the compiled dist/): the default repository a handoff describes. */
export const INSTALL_DIR = PACKAGE_ROOT;

export function repoDirOf(config: AppConfig): string {
  return path.resolve(config.handoff.repoDir ?? INSTALL_DIR);
}

/**
 * `repoDir` ready to have a git path (`/`-separated, never `..`) appended: path.join for
 * thousands of files costs more than the stat calls themselves. Windows takes `/` inside a path.
 */
export function pathPrefix(repoDir: string): string {
  const root = path.resolve(repoDir);
  return root.endsWith(path.sep) ? root : root + path.sep;
}

export interface RepoFile {
  path: string;
  bytes: number;
}

/**
 * A glob (`*` within a segment, `**` across segments, `?` one character) as a RegExp. A pattern
 * without a slash matches the file name anywhere, like .gitignore.
 */
export function globToRegExp(glob: string): RegExp {
  const anchored = glob.includes('/') ? glob.replace(/^\//, '') : `**/${glob}`;
  let out = '';
  for (let i = 0; i < anchored.length; i++) {
    const ch = anchored[i]!;
    if (ch === '*' && anchored[i + 1] === '*') {
      const slash = anchored[i + 2] === '/';
      out += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (ch === '*') out += '[^/]*';
    else if (ch === '?') out += '[^/]';
    else out += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  // A directory pattern (`docs/rules`) also covers what is inside it.
  return new RegExp(`^${out}(?:/.*)?$`);
}

export function excluder(patterns: readonly string[]): (relPath: string) => boolean {
  const compiled = [...ALWAYS_EXCLUDED, ...patterns].map(globToRegExp);
  return (relPath) => compiled.some((re) => re.test(relPath));
}

/**
 * The tracked files (GitSummary.trackedFiles) that exist as regular files, sorted, minus
 * exclusions. There is no fallback for a directory that is not a git checkout: without git's
 * index nothing says which files are meant to be shared, and a directory walk is exactly how a
 * stray env file or key ends up in a bundle (issue 22) — the bundle then says so instead.
 */
export async function listRepoFiles(repoDir: string, trackedFiles: readonly string[], exclude: readonly string[]): Promise<RepoFile[]> {
  const isExcluded = excluder(exclude);
  const kept = trackedFiles.filter((rel) => !isExcluded(rel));
  const files: RepoFile[] = [];
  const prefix = pathPrefix(repoDir);
  const stats = await timeSliced(kept, (rel) => {
    try {
      return fs.lstatSync(prefix + rel);
    } catch {
      return null; // vanished (or unreadable) since git listed it
    }
  });
  stats.forEach((stat, j) => {
    if (stat?.isFile()) files.push({ path: kept[j]!, bytes: stat.size }); // symlinks and vanished files are not followed
  });
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const COMMENT_LINE = /^\s*(\/\/|#(?!!)|\/\*|\*|<!--|--|;)/;

/**
 * The file's first two header comment lines (path + purpose, by the project's convention); a
 * shebang is skipped. Empty when the file does not open with comments.
 */
export function headerLines(head: string): string[] {
  const lines = head.split(/\r?\n/, 3); // a shebang and the two header lines: no need to split the rest
  if (lines[0]?.startsWith('#!')) lines.shift();
  const header: string[] = [];
  for (const line of lines.slice(0, 2)) {
    if (!COMMENT_LINE.test(line)) break;
    header.push(line.trim());
  }
  return header;
}

/** Binary content (NUL in the first 8 KB) is listed but never copied. */
export function looksBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8192).includes(0);
}
