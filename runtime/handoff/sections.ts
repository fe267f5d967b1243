// runtime/handoff/sections.ts
// The YAML documents of a bundle: env_manifest, repo_structure, git, gpt_context_map.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GitSummary } from '../git/repo.ts';
import type { RepoFile } from './files.ts';
import type { Handover } from './handover.ts';
import { stringify } from 'yaml';

/** Marks a zip as ours; `handoff load` refuses a zip without it as foreign. */
export const BUNDLE_FORMAT = 'btc-ts-handoff';
export const BUNDLE_VERSION = 1;

/** Entry names every bundle has. */
export const ENTRY = {
  envManifest: 'env_manifest.yaml',
  repoStructure: 'repo_structure.yaml',
  contextMap: 'gpt_context_map.yaml',
  handover: 'handover.md',
  git: 'git.yaml',
  checksums: 'SHA256SUMS',
} as const;

export interface Identity {
  host: string;
  actor: string;
  site: string;
  mode: string;
  session: string;
}

export function envManifest(options: {
  name: string;
  createdAt: string;
  identity: Identity;
  repoDir: string;
  git: GitSummary | null;
  restorePoint: string | null;
}) {
  const { identity, git } = options;
  return {
    bundle: { format: BUNDLE_FORMAT, version: BUNDLE_VERSION, name: options.name, created_at: options.createdAt },
    host: identity.host,
    actor: identity.actor,
    site: identity.site,
    session: identity.session,
    mode: identity.mode,
    os: { type: os.type(), release: os.release(), arch: os.arch(), platform: process.platform },
    node: process.versions.node,
    npm: npmVersion(),
    repo: path.basename(options.repoDir),
    branch: git?.branch ?? null,
    commit: git?.head ?? null,
    dirty: git?.dirty ?? null,
    restore_point: options.restorePoint,
    dependencies: lockedDependencies(options.repoDir),
  };
}

/** `note` says why the list is empty when the repository is not a git checkout. */
export function repoStructure(files: ReadonlyArray<RepoFile & { header: string[]; included: boolean }>, note: string | null = null) {
  return { ...repoStructureHead(files, note), files: files.map((f) => ({ path: f.path, bytes: f.bytes, included: f.included, header: f.header })) };
}

/** repoStructure without its `files` list (what comes before it in the document). */
function repoStructureHead(files: ReadonlyArray<RepoFile>, note: string | null) {
  const directories = new Map<string, number>();
  let totalBytes = 0;
  for (const f of files) {
    const slash = f.path.lastIndexOf('/');
    const dir = slash < 0 ? '.' : f.path.slice(0, slash); // path.posix.dirname of a git path (no trailing or doubled slash)
    directories.set(dir, (directories.get(dir) ?? 0) + 1);
    totalBytes += f.bytes;
  }
  return {
    ...(note ? { note } : {}),
    source: note ? 'none' : 'git index (tracked files only)',
    file_count: files.length,
    total_bytes: totalBytes,
    directories: [...directories.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([dir, count]) => ({ path: dir, files: count })),
  };
}

/**
 * `stringify(repoStructure(files, note), { lineWidth: 0 })` to the byte, written directly: the yaml
 * library takes about 0.15 ms per record, which is most of a bundle's time for thousands of files.
 * A string that needs no quoting (the usual paths and `// …` headers) is written as it is; any
 * other one-line string as the library writes it alone (`"# a shell comment"`, 40 µs); a record
 * with a string the library would write over several lines goes through the library whole.
 */
export function repoStructureYaml(files: ReadonlyArray<RepoFile & { header: string[]; included: boolean }>, note: string | null = null): string {
  const head = repoStructureHead(files, note);
  if (files.length === 0) return stringify({ ...head, files: [] }, { lineWidth: 0 });
  let out = `${stringify(head, { lineWidth: 0 })}files:\n`;
  for (const f of files) {
    const { header } = f;
    const file = scalar(f.path);
    const lines = header.map(scalar);
    if (file === null || lines.includes(null)) {
      out += stringify([{ path: f.path, bytes: f.bytes, included: f.included, header }], { lineWidth: 0 }).replace(/^(?=.)/gm, '  ');
      continue;
    }
    out += `  - path: ${file}\n    bytes: ${f.bytes}\n    included: ${f.included}\n`;
    if (lines.length === 0) out += '    header: []\n';
    else {
      out += '    header:\n';
      for (const line of lines) out += `      - ${line}\n`;
    }
  }
  return out;
}

/** `s` as one line of YAML the way the library writes it in a record, or null when that takes more than one line. */
function scalar(s: string): string | null {
  if (isPlain(s)) return s;
  const written = stringify(s, { lineWidth: 0 });
  const end = written.indexOf('\n');
  // One line (then its newline) that is the string itself, not a document marker or a block scalar header.
  return end === written.length - 1 && !/^(?:---|\.\.\.|[|>])/.test(written) ? written.slice(0, end) : null;
}

/**
 * Strings YAML reads back as the same string without quotes: no indicator first, no `: ` / ` #`,
 * no trailing space, no keyword or number. One expression (a string is tested thousands of times).
 */
const PLAIN = /^(?!(?:true|false|null|yes|no|on|off|y|n)$)[A-Za-z_/][A-Za-z0-9_./ ,()'=+-]*(?<! )$/i;
const isPlain = (s: string) => PLAIN.test(s);

export function gitDocument(git: GitSummary | null) {
  if (!git) return { available: false };
  return {
    available: true,
    branch: git.branch,
    head: git.head,
    dirty: git.dirty,
    tags: git.tags,
    restore_points: git.restorePoints,
    commits: git.commits,
  };
}

export function contextMap(options: { handover: Handover; mode: string; git: GitSummary | null }) {
  const { handover } = options;
  return {
    phase: handover.phase,
    mode: options.mode,
    // Files being worked on = what git shows as changed in the working tree.
    files_in_progress: (options.git?.changes ?? []).map((c) => ({ path: c.path, change: c.change })),
    open_tasks: handover.remaining,
    next_tasks: handover.next,
    done: handover.done,
    read_order: [ENTRY.contextMap, ENTRY.envManifest, ENTRY.handover, ENTRY.repoStructure, ENTRY.git],
  };
}

let cachedNpmVersion: string | null | undefined;

/**
 * npm's version: from npm's user agent when run through npm, else the npm installed next to this
 * node, else `npm --version` once (a second or two, so it is the last resort).
 */
function npmVersion(): string | null {
  if (cachedNpmVersion !== undefined) return cachedNpmVersion;
  const agent = /npm\/(\S+)/.exec(process.env.npm_config_user_agent ?? '');
  if (agent) return (cachedNpmVersion = agent[1]!);
  try {
    const manifest = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'package.json');
    return (cachedNpmVersion = (JSON.parse(readFileSync(manifest, 'utf8')) as { version: string }).version);
  } catch {
    // not a standard layout (nvm-windows, distro packages): ask npm itself
  }
  const run = spawnSync('npm', ['--version'], { encoding: 'utf8', timeout: 10_000 });
  cachedNpmVersion = run.status === 0 ? run.stdout.trim() : null;
  return cachedNpmVersion;
}

/** Direct dependencies with the versions package-lock.json pins (what `npm ci` installs). */
function lockedDependencies(repoDir: string): Record<string, string> {
  try {
    const lock = JSON.parse(readFileSync(path.join(repoDir, 'package-lock.json'), 'utf8')) as {
      packages?: Record<string, { version?: string; dependencies?: Record<string, string>; devDependencies?: Record<string, string> }>;
    };
    const root = lock.packages?.[''] ?? {};
    const names = [...Object.keys(root.dependencies ?? {}), ...Object.keys(root.devDependencies ?? {})].sort();
    return Object.fromEntries(names.map((n) => [n, lock.packages?.[`node_modules/${n}`]?.version ?? 'unknown']));
  } catch {
    return {};
  }
}
