// runtime/paths.ts
// Where the running code and the installation are on disk: the same answer from the TypeScript sources (tsx) and from the compiled dist/ (bin/build.mjs).

import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The folder bin/build.mjs writes the compiled tree to, under the package root. */
export const DIST_DIR_NAME = 'dist';

/**
 * The root of the code this process runs: the folder holding runtime/, functions/ and schedules/ as
 * loaded modules — the package root when running the sources, `<package root>/dist` when running
 * the build. Computed from this file's own URL, without touching the disk (the worker bundle has no
 * file system: there it is the URL the worker build defines).
 */
export const CODE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Whether this process runs the compiled dist/ (bin/runtime.mjs chose it) rather than the sources:
 * this very file is a .js under a folder named dist (a checkout that happens to live in a folder
 * named dist still runs paths.ts; the worker bundle's defined URL ends in .js but is not under dist).
 */
export const RUNNING_FROM_DIST = import.meta.url.endsWith('.js') && path.basename(CODE_ROOT) === DIST_DIR_NAME;

/**
 * The installation: package.json, config/, docs/, the TypeScript sources, the git checkout. Equal to
 * CODE_ROOT from the sources; its parent when running the build.
 */
export const PACKAGE_ROOT = RUNNING_FROM_DIST ? path.dirname(CODE_ROOT) : CODE_ROOT;
