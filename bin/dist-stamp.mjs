// bin/dist-stamp.mjs
// Whether dist/ (bin/build.mjs) matches the TypeScript sources: a fingerprint of every source's path, size and mtime (and the versions of the packages bundled into dist/vendor/), stored by the build, checked by bin/runtime.mjs at each start.

import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

/** The folders compiled to dist/ (the code `runtime` can reach; test/ and ops/ run through tsx). */
export const SOURCE_DIRS = ['runtime', 'functions', 'schedules', 'config', 'infra'];
/** Files outside those folders that change the output. */
const BUILD_INPUTS = ['tsconfig.json', 'bin/build.mjs'];
/**
 * Pure-JavaScript packages the build bundles into one file each, `dist/vendor/<name>.js`, which the
 * compiled files import instead of the package: Node then loads one file instead of hundreds (zod:
 * ~95 modules). Their installed versions are part of the fingerprint, so an `npm install` of a new
 * version without a rebuild makes dist/ stale instead of running the old copy.
 */
export const VENDORED = ['zod', 'yaml'];
/** The folder of the vendored bundles, inside dist/. */
export const VENDOR_DIR = 'vendor';
/** Written last by the build, inside dist/. */
export const STAMP_FILE = 'build-stamp.json';
/** TypeScript (compiled) and plain JavaScript (copied as is: runtime/registry.ts loads .mjs/.js duties and schedules too). */
const SOURCE = /\.(ts|tsx|mts|mjs|js)$/;

/**
 * The sources under `root`: `files` (paths relative to root, OS separators, sorted) and `fingerprint`
 * (sha256 of every source's and build input's path, size and mtime, and of each VENDORED package's
 * installed version). Any edit, added, deleted or restored-with-an-old-mtime file, or another
 * version of a vendored package, changes the fingerprint. One stat per file: a few ms for ~250 files.
 */
export function listSources(root) {
  const files = [];
  const walk = (rel) => {
    for (const entry of readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const child = path.join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (SOURCE.test(entry.name)) files.push(child);
    }
  };
  for (const dir of SOURCE_DIRS) walk(dir);
  files.sort();
  const hash = createHash('sha256');
  for (const rel of [...files, ...BUILD_INPUTS]) {
    const stat = statSync(path.join(root, rel), { throwIfNoEntry: false });
    hash.update(`${rel}\0${stat ? `${stat.size}\0${stat.mtimeMs}` : 'absent'}\n`);
  }
  for (const name of VENDORED) hash.update(`vendor\0${name}\0${installedVersion(root, name) ?? 'absent'}\n`);
  return { files, fingerprint: hash.digest('hex') };
}

/**
 * The version of package `name` as Node resolves it from `root` (the nearest `node_modules/<name>`
 * going up, as a symlinked node_modules of a worktree too), or null when it is not installed.
 */
export function installedVersion(root, name) {
  for (let dir = path.resolve(root); ; dir = path.dirname(dir)) {
    try {
      const version = JSON.parse(readFileSync(path.join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
      return typeof version === 'string' ? version : null;
    } catch {
      // not installed here: one folder up
    }
    if (path.dirname(dir) === dir) return null;
  }
}

/**
 * `{ fresh: true }` when dist/ was built from exactly the sources on disk now, else `{ fresh: false, reason }`
 * (no build yet, a build under way or failed, a source edited, added or deleted since). Never throws.
 */
export function distState(root) {
  let stamp;
  try {
    stamp = JSON.parse(readFileSync(path.join(root, 'dist', STAMP_FILE), 'utf8'));
  } catch {
    return { fresh: false, reason: 'not built (run `npm run build`)' };
  }
  try {
    if (listSources(root).fingerprint !== stamp.fingerprint) return { fresh: false, reason: 'a source changed since the last build (run `npm run build`)' };
  } catch (err) {
    return { fresh: false, reason: `sources unreadable: ${err instanceof Error ? err.message : String(err)}` };
  }
  return { fresh: true };
}
