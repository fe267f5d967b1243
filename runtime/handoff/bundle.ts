// runtime/handoff/bundle.ts
// Builds the Handoff_YYYYMMDD_HHMM.zip with jszip and proves no secret value is anywhere in it.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../hash.ts';
import JSZip from 'jszip';
import { stringify } from 'yaml';
import type { AppConfig, StreamConfig } from '../../config/schema.ts';
import { utcStamp } from '../clock.ts';
import { BtcError } from '../errors.ts';
import { gitSummary, type GitRepo } from '../git/repo.ts';
import { extendMasker, MASK, SECRET_PATTERNS, type Masker } from '../secrets.ts';
import type { ObjectStore } from '../store/types.ts';
import { secretsInConfigFile } from './file-secrets.ts';
import { headerLines, listRepoFiles, looksBinary } from './files.ts';
import { parseHandover } from './handover.ts';
import { logSample, rawSamples } from './samples.ts';
import { contextMap, ENTRY, envManifest, gitDocument, repoStructure, type Identity } from './sections.ts';
import { BUNDLE_LIMITS, openZip } from './unzip.ts';

/** Source files are copied under this folder of the zip. */
export const REPO_FOLDER = 'repo/';

export interface BundleSources {
  repoDir: string;
  repo: GitRepo | null;
  settings: AppConfig['handoff'];
  nowMs: number;
  identity: Identity;
  masker: Masker;
  /** Where the raw samples come from (the router). */
  store: ObjectStore;
  streams: readonly StreamConfig[];
  logsDir: string;
  restorePoint: string | null;
}

export interface Bundle {
  name: string;
  bytes: Buffer;
  sha256: string;
  /** Every entry in the zip, sorted. */
  files: string[];
}

/** `Handoff_20260101_0930.zip` (UTC). */
export function bundleName(nowMs: number): string {
  const { date, time } = utcStamp(nowMs);
  return `Handoff_${date}_${time}.zip`;
}

export async function buildBundle(src: BundleSources): Promise<Bundle> {
  const name = bundleName(src.nowMs);
  const git = src.repo ? await gitSummary(src.repo) : null;
  const handoverText = await fsp.readFile(path.join(src.repoDir, src.settings.handoverFile), 'utf8').catch(() => '');
  const handover = parseHandover(handoverText);

  // Tracked files only (see listRepoFiles); without a checkout no repository file is copied.
  const listed = git ? await listRepoFiles(src.repoDir, git.trackedFiles, src.settings.exclude) : [];
  const read = await Promise.all(listed.map(async (file) => ({ file, body: await fsp.readFile(path.join(src.repoDir, file.path)) })));
  // Secrets by kind in the copied config files (a webhook URL in a config/app.yaml other than the
  // loaded one) join the runtime's own: masked in every entry and covered by the final scan.
  const found = read.flatMap(({ file, body }) => (looksBinary(body) ? [] : secretsInConfigFile(file.path, body.toString('utf8'))));
  const masker = extendMasker(src.masker, found);

  const entries = new Map<string, Buffer>();
  const addText = (entry: string, text: string) => entries.set(entry, Buffer.from(masker.text(text), 'utf8'));
  const addYaml = (entry: string, doc: unknown) => addText(entry, stringify(doc, { lineWidth: 0 }));

  const described = [];
  for (const { file, body } of read) {
    const binary = looksBinary(body);
    const included = !binary && file.bytes <= src.settings.maxFileBytes;
    // Masked on the way in: a secret committed by mistake must not travel; the final scan is the guard.
    if (included) addText(REPO_FOLDER + file.path, body.toString('utf8'));
    described.push({ ...file, included, header: binary ? [] : headerLines(body.subarray(0, 1024).toString('utf8')).map(masker.text) });
  }

  addYaml(ENTRY.repoStructure, repoStructure(described, git ? null : `${path.basename(src.repoDir)} is not a git checkout: no repository file is bundled (only tracked files are ever copied)`));
  addYaml(
    ENTRY.envManifest,
    envManifest({ name, createdAt: new Date(src.nowMs).toISOString(), identity: src.identity, repoDir: src.repoDir, git, restorePoint: src.restorePoint }),
  );
  addYaml(ENTRY.contextMap, contextMap({ handover, mode: src.identity.mode, git }));
  addYaml(ENTRY.git, gitDocument(git));
  addText(ENTRY.handover, handoverText || '# Handover\n\n(no handover file found)\n');
  for (const sample of await rawSamples(src.store, src.streams, src.settings.sampleLines, masker, src.nowMs)) addText(sample.name, sample.text);
  for (const sample of await logSample(src.logsDir, src.settings.logLines, masker)) addText(sample.name, sample.text);

  const sums = [...entries.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([entry, body]) => `${sha256Hex(body)}  ${entry}`);
  entries.set(ENTRY.checksums, Buffer.from(`${sums.join('\n')}\n`));

  const zip = new JSZip();
  // A fixed date keeps the bytes a function of the content (and the name carries the time anyway).
  const date = new Date(src.nowMs);
  for (const [entry, body] of entries) zip.file(entry, body, { date, createFolders: false });
  const bytes = await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE', compressionOptions: { level: 6 } });
  await assertNoSecrets(bytes, masker.values);
  return { name, bytes, sha256: sha256Hex(bytes), files: [...entries.keys()].sort() };
}

/**
 * Fails when any secret value appears in the zip — in its raw bytes, an entry name or any entry's
 * uncompressed content (plain or base64) — or when any entry or name still matches one of
 * `patterns` (a secret-shaped string the masker should have replaced). Entries are read through
 * the bounded reader. The error names the entries, never the value.
 */
export async function assertNoSecrets(bytes: Buffer, secrets: readonly string[], patterns: readonly RegExp[] = SECRET_PATTERNS): Promise<void> {
  const needles = secrets.flatMap((s) => [Buffer.from(s), Buffer.from(Buffer.from(s).toString('base64'))]);
  const hit = (body: Buffer) => needles.some((n) => body.includes(n)) || shaped(body.toString('utf8'));
  // What the masker left behind (`***`) matches some patterns (a URL's user:***@); only a real value is a leak.
  const shaped = (text: string) => patterns.some((p) => [...text.matchAll(new RegExp(p.source, p.flags))].some((m) => m[0] !== MASK));
  const leaks: string[] = [];
  if (needles.some((n) => bytes.includes(n))) leaks.push('(zip bytes)');
  const zip = await openZip(bytes, BUNDLE_LIMITS, 'bundle');
  for (const entry of zip.entries) {
    if (hit(Buffer.from(entry.name)) || (!entry.dir && hit(await zip.read(entry.name)))) leaks.push(entry.name);
  }
  if (leaks.length) {
    throw new BtcError('Internal', `handoff bundle refused: a secret value was found in ${leaks.join(', ')}`);
  }
}
