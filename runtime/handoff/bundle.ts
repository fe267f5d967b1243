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
import type { Masker } from '../secrets.ts';
import type { ObjectStore } from '../store/types.ts';
import { headerLines, listRepoFiles, looksBinary } from './files.ts';
import { parseHandover } from './handover.ts';
import { logSample, rawSamples } from './samples.ts';
import { contextMap, ENTRY, envManifest, gitDocument, repoStructure, type Identity } from './sections.ts';

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
  const { masker } = src;
  const name = bundleName(src.nowMs);
  const git = src.repo ? await gitSummary(src.repo) : null;
  const handoverText = await fsp.readFile(path.join(src.repoDir, src.settings.handoverFile), 'utf8').catch(() => '');
  const handover = parseHandover(handoverText);

  const entries = new Map<string, Buffer>();
  const addText = (entry: string, text: string) => entries.set(entry, Buffer.from(masker.text(text), 'utf8'));
  const addYaml = (entry: string, doc: unknown) => addText(entry, stringify(doc, { lineWidth: 0 }));

  const listed = await listRepoFiles(src.repoDir, git?.files ?? null, src.settings.exclude);
  const described = [];
  for (const file of listed) {
    const body = await fsp.readFile(path.join(src.repoDir, file.path));
    const binary = looksBinary(body);
    const included = !binary && file.bytes <= src.settings.maxFileBytes;
    // Masked on the way in: a secret committed by mistake must not travel; the final scan is the guard.
    if (included) addText(REPO_FOLDER + file.path, body.toString('utf8'));
    described.push({ ...file, included, header: binary ? [] : headerLines(body.subarray(0, 1024).toString('utf8')).map(masker.text) });
  }

  addYaml(ENTRY.repoStructure, repoStructure(described));
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
 * Fails when any secret value appears in the zip: in its raw bytes, in an entry name, or in any
 * entry's uncompressed content (plain or base64). The error names the entries, never the value.
 */
export async function assertNoSecrets(bytes: Buffer, secrets: readonly string[]): Promise<void> {
  if (secrets.length === 0) return;
  const needles = secrets.flatMap((s) => [Buffer.from(s), Buffer.from(Buffer.from(s).toString('base64'))]);
  const hit = (body: Buffer) => needles.some((n) => body.includes(n));
  const leaks: string[] = [];
  if (hit(bytes)) leaks.push('(zip bytes)');
  const zip = await JSZip.loadAsync(bytes);
  for (const entry of Object.values(zip.files)) {
    if (hit(Buffer.from(entry.name)) || (!entry.dir && hit(await entry.async('nodebuffer')))) leaks.push(entry.name);
  }
  if (leaks.length) {
    throw new BtcError('Internal', `handoff bundle refused: a secret value was found in ${leaks.join(', ')}`);
  }
}

