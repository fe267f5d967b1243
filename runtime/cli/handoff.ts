// runtime/cli/handoff.ts
// `runtime handoff make` (through the running runtime when one answers) and `runtime handoff load <zip|key>`.
// What only `handoff load` and the make via a running runtime need (the zip reader: yauzl, fflate; git) is imported where used.

import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '../config.ts';
import { BtcError, errorCodeOfName } from '../errors.ts';
import { sha256Hex } from '../hash.ts';
import { repoDirOf } from '../handoff/files.ts';
import type { HandoffResult, HandoffSummary } from '../handoff/result.ts';
import type { LoadedBundle } from '../handoff/read.ts';
import { dutyCommand } from './flags-from-zod.ts';
import { configHelp, configOption, invokeOnce, loadRuntime, runningRuntime } from './load.ts';
import type { Command, Flags } from './main.ts';
import { color, plain, printJson } from './output.ts';
import { HANDOFF_KEY_PATTERN, HANDOFF_PREFIX, handoffKey } from '../keys.ts';
import { listed } from './summaries.ts';

export const handoffMakeCommand: Command = dutyCommand({
  ...listed('handoff make'),
  parsesOnce: true,
  duty: 'handoff',
  // --rp, --label and --session come from the handoff duty's zod input.
  options: { ...configOption, out: { type: 'string' }, local: { type: 'boolean' } },
  optionHelp: {
    ...configHelp,
    out: 'also write the zip here (a file, or a directory to keep its name)',
    local: 'run in this process even when a runtime is listening',
  },
  async run(input, flags) {
    const made = (!flags.local && (await viaRunningRuntime(flags, input))) || (await inProcess(flags, input));
    if (typeof flags.out === 'string') {
      const isDir = existsSync(flags.out) && (await stat(flags.out)).isDirectory();
      const target = isDir ? path.join(flags.out, path.basename(made.summary.key)) : flags.out;
      await writeFile(target, made.bytes);
      console.error(`wrote ${target}`);
    }
    // The tag is how one gets back to this state: say it, not only inside the zip.
    if (made.summary.restore_point) console.error(`restore point ${made.summary.restore_point} (runtime rp restore ${made.summary.restore_point} goes back to it)`);
    printJson(made.summary);
    return 0;
  },
});

export const handoffLoadCommand: Command = {
  ...listed('handoff load'),
  parsesOnce: true,
  usage: 'runtime handoff load <zip|key> [--sha256 HEX] [--json] [--config FILE]',
  positionals: ['zip|key'],
  options: { ...configOption, sha256: { type: 'string' }, json: { type: 'boolean' } },
  optionHelp: { ...configHelp, sha256: 'expected sha256 of the zip (from the audit event)', json: 'print the result as JSON' },
  async run(flags, [source]) {
    if (!source) throw new BtcError('InvalidInput', 'name a bundle: runtime handoff load <zip file | handoff/… key>');
    const bytes = await readSource(flags, source);
    const { readBundle } = await import('../handoff/read.ts');
    const bundle = await readBundle(bytes, flags.sha256 as string | undefined);
    const since = await changesSince(flags, bundle.manifest.commit);
    if (flags.json) printJson({ ok: true, source, ...bundle, handover: undefined, since });
    else printBundle(source, bundle, since);
    return 0;
  },
};

interface Made {
  summary: HandoffSummary | (Pick<HandoffSummary, 'key' | 'bytes' | 'sha256' | 'restore_point'> & { via: string });
  bytes: Buffer;
}

/** One in-flight handoff per PC: ask the runtime on this PC first (the same rule as `runtime invoke`). */
async function viaRunningRuntime(flags: Flags, input: object): Promise<Made | null> {
  const running = await runningRuntime(flags.config as string | undefined);
  if (!running) return null;
  const { base } = running;
  const headers = { ...running.headers, accept: 'application/zip' };
  const res = await fetch(`${base}/fn/handoff`, { method: 'POST', headers, body: JSON.stringify(input) });
  if (!res.ok || !res.headers.get('content-type')?.includes('application/zip')) {
    const body = (await res.json().catch(() => ({}))) as { message?: string; error?: string };
    throw new BtcError(errorCodeOfName(body.error) ?? (res.status === 400 ? 'InvalidInput' : 'Internal'), `runtime at ${base}: ${body.message ?? body.error ?? res.status}`);
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  const filename = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'unknown.zip';
  const sha256 = sha256Hex(bytes);
  // The zip answer carries no JSON; the restore point the runtime cut is in the bundle's manifest.
  const { readBundle } = await import('../handoff/read.ts');
  const { manifest } = await readBundle(bytes, sha256);
  return { bytes, summary: { key: handoffKey(filename), bytes: bytes.length, sha256, restore_point: manifest.restore_point, via: base } };
}

async function inProcess(flags: Flags, input: object): Promise<Made> {
  const result = (await invokeOnce(flags, 'handoff', input as Record<string, unknown>)) as HandoffResult;
  return { bytes: result.bytes, summary: result.json };
}

/** A file on disk, else a key in the store (`handoff/Handoff_….zip` or just the file name). */
async function readSource(flags: Flags, source: string): Promise<Buffer> {
  if (existsSync(source)) return readFile(source);
  const looksLikeKey = HANDOFF_KEY_PATTERN.test(source);
  if (!looksLikeKey) throw new BtcError('InvalidInput', `${source}: no such file, and not a handoff/Handoff_….zip key`);
  const key = source.startsWith(HANDOFF_PREFIX) ? source : handoffKey(source);
  const runtime = await loadRuntime(flags, undefined, { runsNoFunction: true }); // reads the store only
  try {
    const object = await runtime.store.getOrNull(key);
    if (!object) throw new BtcError('InvalidInput', `no bundle ${key} in ${runtime.store.primary.describe} or the cache`);
    return object.body;
  } finally {
    await runtime.shutdown();
  }
}

type Since = { repo: string; known: boolean; commits: Array<{ oid: string; message: string }> } | null;

/** Commits on this repository's HEAD after the bundle's commit: what changed since the handoff. */
async function changesSince(flags: Flags, commit: string | null): Promise<Since> {
  if (!commit) return null;
  const repoDir = repoDirOf(loadConfig({ file: flags.config as string | undefined }).config);
  const { commitsSince, openRepo } = await import('../git/repo.ts');
  const repo = await openRepo(repoDir);
  if (!repo) return null;
  const { known, commits } = await commitsSince(repo, commit);
  return { repo: repoDir, known, commits: commits.map((c) => ({ oid: c.oid, message: c.message })) };
}

/** Every field of the bundle is foreign text: printed through plain() so it cannot drive the terminal. */
function printBundle(source: string, bundle: LoadedBundle, since: Since): void {
  const { manifest, context } = bundle;
  const say = (text: string) => console.log(plain(text));
  const line = (label: string, value: string) => say(`${label.padEnd(14)} ${value}`);
  console.log(`${'bundle'.padEnd(14)} ${plain(`${manifest.bundle.name} (${bundle.bytes} bytes, ${bundle.files.length} files)`)} ${color.green('valid')}`);
  line('sha256', bundle.sha256);
  line('made', `${manifest.bundle.created_at} by ${manifest.actor}@${manifest.host} (site ${manifest.site}, session ${manifest.session})`);
  line('phase', context.phase ?? '(not set in handover.md)');
  line('mode', context.mode);
  line('branch', `${manifest.branch ?? '(detached)'} @ ${manifest.commit?.slice(0, 7) ?? '(none)'}${manifest.dirty ? ' (dirty)' : ''}`);
  if (manifest.restore_point) line('restore point', manifest.restore_point);
  console.log('\nnext tasks:');
  for (const [i, task] of context.next_tasks.entries()) say(`  ${i + 1}. ${task}`);
  if (context.next_tasks.length === 0) console.log('  (none listed)');
  if (context.open_tasks.length) say(`\nopen tasks: ${context.open_tasks.length} (see handover.md in the bundle)`);
  if (context.files_in_progress.length) say(`files in progress: ${context.files_in_progress.map((f) => f.path).join(', ')}`);
  if (!since) console.log(color.dim(plain(`\n(no git repository here to compare with ${source})`)));
  else if (!since.known) console.log(color.yellow(plain(`\nthe bundle's commit ${manifest.commit?.slice(0, 7)} is not in ${since.repo}'s history`)));
  else {
    console.log(`\nsince the bundle: ${since.commits.length} commit(s) on HEAD`);
    for (const c of since.commits) say(`  ${c.oid.slice(0, 7)} ${c.message}`);
  }
}
