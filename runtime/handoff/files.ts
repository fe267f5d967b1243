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

/** Files larger than this are read off the main thread: one synchronous read must not hold the event loop for long (bytes). */
export const SYNC_READ_MAX_BYTES = 1 << 20;

/** What a bundle reads of one repository file. */
export interface RepoRead {
  /** The file's size when opened (fstat), in bytes. */
  bytes: number;
  /** Its content: whole, or only its head when it is over the caller's limit. */
  body: Buffer;
}

/**
 * Opened without following a symlink (O_NOFOLLOW: the open itself fails on one, so no lstat is
 * needed before it) and without blocking on a FIFO (O_NONBLOCK; a regular file ignores it).
 * Windows has neither flag: there an lstat comes first.
 */
const NO_FOLLOW = fs.constants.O_NOFOLLOW as number | undefined;
const OPEN_FLAGS = fs.constants.O_RDONLY | (NO_FOLLOW ?? 0) | ((fs.constants.O_NONBLOCK as number | undefined) ?? 0);
/** What open(2) answers for a path that is gone, or is a symlink under O_NOFOLLOW (ELOOP; EMLINK on the BSDs). */
const NOT_A_FILE = new Set(['ENOENT', 'ENOTDIR', 'ELOOP', 'EMLINK']);

/**
 * The regular file at `full`: its size and its content — whole when it is at most `wholeUpTo`
 * bytes, else its first `headBytes`. One open, fstat, read and close; no lstat before (except on
 * Windows). Synchronous unless more than SYNC_READ_MAX_BYTES are to be read (see timeSliced).
 * @returns null when there is no regular file there (gone since git listed it, a symlink, a
 *   directory such as a submodule, a FIFO): such a path is never followed nor listed.
 * @throws the fs error for anything else (EACCES, EIO): a file the bundle should carry and cannot read is not left out in silence.
 */
export function readRepoFile(full: string, wholeUpTo: number, headBytes: number): RepoRead | null | Promise<RepoRead | null> {
  let fd: number;
  try {
    if (NO_FOLLOW === undefined && !fs.lstatSync(full).isFile()) return null;
    fd = fs.openSync(full, OPEN_FLAGS);
  } catch (err) {
    if (NOT_A_FILE.has((err as NodeJS.ErrnoException).code ?? '')) return null;
    throw err;
  }
  let closeHere = true;
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) return null;
    const want = stat.size <= wholeUpTo ? stat.size : Math.min(stat.size, headBytes);
    if (want > SYNC_READ_MAX_BYTES) {
      closeHere = false;
      return readOffThread(fd, want).then((body) => ({ bytes: stat.size, body }));
    }
    const body = Buffer.allocUnsafe(want);
    let got = 0;
    for (let n = -1; got < want && n !== 0; got += n) n = fs.readSync(fd, body, got, want - got, got);
    return { bytes: stat.size, body: got === want ? body : body.subarray(0, got) }; // shorter when it shrank meanwhile
  } finally {
    if (closeHere) fs.closeSync(fd);
  }
}

/** Up to `want` bytes of the open file `fd` through the thread pool; closes `fd`. */
async function readOffThread(fd: number, want: number): Promise<Buffer> {
  const body = Buffer.allocUnsafe(want);
  let got = 0;
  try {
    for (let n = -1; got < want && n !== 0; got += n) {
      n = await new Promise<number>((resolve, reject) => fs.read(fd, body, got, want - got, got, (err, read) => (err ? reject(err) : resolve(read))));
    }
  } finally {
    fs.closeSync(fd);
  }
  return got === want ? body : body.subarray(0, got);
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
  // `dir/` means the folder `dir` anywhere, as in .gitignore (a trailing slash does not anchor).
  const trimmed = glob.length > 1 ? glob.replace(/\/+$/, '') : glob;
  // Without a slash: a whole path segment anywhere, written as "at the start or after a slash"
  // rather than a leading `(?:.*/)?`, which backtracks over every slash of every path tested.
  const segment = !trimmed.includes('/');
  const anchored = segment ? trimmed : trimmed.replace(/^\//, '');
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
  // A directory pattern (`docs/rules`) also covers what is inside it. `s`: a `.` crosses line breaks,
  // which a git path may hold (`data/**` must cover `data/a\nb`).
  return segment ? new RegExp(`(?:^|/)${out}(?:/|$)`, 's') : new RegExp(`^${out}(?:/.*)?$`, 's');
}

export function excluder(patterns: readonly string[]): (relPath: string) => boolean {
  const compiled = [...ALWAYS_EXCLUDED, ...patterns].map(globToRegExp);
  // One expression for them all: a path is tested once, not once per pattern (thousands of paths).
  const any = new RegExp(compiled.map((re) => `(?:${re.source})`).join('|'), 's');
  return (relPath) => any.test(relPath);
}

/**
 * The tracked files (GitSummary.trackedFiles) minus exclusions, sorted; which of them are regular
 * files is found when they are read (readRepoFile). There is no fallback for a directory that is
 * not a git checkout: without git's index nothing says which files are meant to be shared, and a
 * directory walk is exactly how a stray env file or key ends up in a bundle (issue 22) — the
 * bundle then says so instead.
 */
export function listRepoFiles(trackedFiles: readonly string[], exclude: readonly string[]): string[] {
  const isExcluded = excluder(exclude);
  return trackedFiles.filter((rel) => !isExcluded(rel)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
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

/**
 * The bytes of `body` headerLines needs: up to and with the third line feed (a shebang and the two
 * header lines), at most `limit`. Decoding only these (a few hundred bytes) instead of the whole
 * file gives the same header lines as strings of their own.
 */
export function headBytes(body: Buffer, limit: number): number {
  let end = 0;
  for (let line = 0; line < 3; line++) {
    const feed = body.indexOf(10, end);
    if (feed < 0 || feed >= limit) return Math.min(body.length, limit);
    end = feed + 1;
  }
  return end;
}

/** Binary content (NUL in the first 8 KB) is listed but never copied. */
export function looksBinary(bytes: Buffer): boolean {
  return bytes.subarray(0, 8192).includes(0);
}
