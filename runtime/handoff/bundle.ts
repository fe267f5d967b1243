// runtime/handoff/bundle.ts
// Builds the Handoff_YYYYMMDD_HHMM.zip, streaming the repository files through, and proves no secret value is anywhere in it (checked as each entry is written).

import { isAscii, isUtf8 } from 'node:buffer';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../hash.ts';
import { stringify } from 'yaml';
import type { AppConfig, StreamConfig } from '../../config/schema.ts';
import { utcStamp } from '../clock.ts';
import { BtcError } from '../errors.ts';
import { gitSummary, type GitRepo, type GitSummary } from '../git/repo.ts';
import { extendMasker, MASK, patternsFor, SECRET_PATTERNS, type Masker } from '../secrets.ts';
import type { ObjectStore } from '../store/types.ts';
import { mayHoldConfigSecrets, secretsInConfigFile } from './file-secrets.ts';
import { headBytes, headerLines, listRepoFiles, looksBinary, pathPrefix, readRepoFile, timeSliced, type RepoFile, type RepoRead } from './files.ts';
import { parseHandover } from './handover.ts';
import { logSample, rawSamples } from './samples.ts';
import { contextMap, ENTRY, envManifest, gitDocument, repoStructureYaml, type Identity } from './sections.ts';
import { BUNDLE_LIMITS, RATIO_FLOOR_BYTES, type UnzipLimits } from './zip-limits.ts';
import { createZipWriter } from './zip-writer.ts';

/** Source files are copied under this folder of the zip. */
export const REPO_FOLDER = 'repo/';

export interface BundleSources {
  repoDir: string;
  repo: GitRepo | null;
  /** gitSummary(repo) when the caller has started it already (so git runs while this module loads); else it is read here. */
  git?: Promise<GitSummary | null>;
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
  const git = await (src.git ?? (src.repo ? gitSummary(src.repo) : null));
  const handoverText = await fsp.readFile(path.join(src.repoDir, src.settings.handoverFile), 'utf8').catch(() => '');
  const handover = parseHandover(handoverText);

  // Tracked files only (see listRepoFiles); without a checkout no repository file is copied.
  const listed = git ? listRepoFiles(git.trackedFiles, src.settings.exclude) : [];
  const { masker, configBodies } = await bundleMasker(src, listed);

  const zip = createZipWriter(src.nowMs);
  const sums = new Map<string, string>();
  // Every entry is checked as it is written, on the very bytes the zip gets (see secretScanner).
  const scan = secretScanner(masker.values);
  const limits = limitsGuard(BUNDLE_LIMITS);
  /** Hashed, scanned and handed to the zip; settled at once for a small entry (see ZipWriter.add). */
  const add = (entry: string, body: Buffer, text?: string): void | Promise<void> => {
    sums.set(entry, sha256Hex(body));
    scan.entry(entry, body, text);
    const compressed = zip.add(entry, body);
    if (typeof compressed === 'number') return limits.entry(entry, body.length, compressed);
    const checked = compressed.then((bytes) => limits.entry(entry, body.length, bytes));
    // Awaited with its window, a turn of the event loop later (the next window is read first): a
    // refusal meanwhile must not count as unhandled (a one-shot command would die of it, unexplained).
    checked.catch(() => undefined);
    return checked;
  };

  // Repository files stream through: read a window, mask, hash and hand to the zip, drop the bodies.
  const described: Array<RepoFile & { header: string[]; included: boolean }> = [];
  let compressing: Array<void | Promise<void>> = [];
  const prefix = pathPrefix(src.repoDir);
  for (let i = 0; i < listed.length; i += FILE_WINDOW) {
    const window = listed.slice(i, i + FILE_WINDOW);
    // A config file was read once already, for its secrets (bundleMasker).
    const reads = await timeSliced(window, (rel) => (configBodies.has(rel) ? configBodies.get(rel)! : readRepoFile(prefix + rel, src.settings.maxFileBytes, HEAD_BYTES)));
    await Promise.all(compressing); // at most two windows of bodies are held at once
    compressing = window.map((rel, j) => {
      const read = reads[j];
      if (!read) return; // not a regular file (any more): neither listed nor copied
      const { body } = read;
      const binary = looksBinary(body);
      const included = !binary && read.bytes <= src.settings.maxFileBytes;
      if (!included) {
        described.push({ path: rel, bytes: read.bytes, included, header: binary ? [] : headerLines(body.subarray(0, HEADER_CHARS).toString('utf8')).map(masker.text) });
        return;
      }
      // Masked on the way in: a secret committed by mistake must not travel; the scan of each entry is the guard.
      // ASCII (most source files) decodes as latin1, a plain copy, to the same string.
      const ascii = isAscii(body);
      const decoded = body.toString(ascii ? 'latin1' : 'utf8');
      const text = masker.text(decoded);
      // The header lines as the entry has them: masked with the whole file around them, and masked
      // once. Never views into the whole text, which would keep every file's text alive until the end:
      // an ASCII file nothing was masked in has them decoded from its first bytes alone, any other copied out.
      const header = ascii && text === decoded ? headerLines(body.toString('latin1', 0, headBytes(body, HEADER_CHARS))) : headerLines(text.slice(0, HEADER_CHARS)).map(ownCopy);
      described.push({ path: rel, bytes: read.bytes, included, header });
      // Nothing masked in valid UTF-8: the bytes as read are exactly what Buffer.from(text) would copy.
      return add(REPO_FOLDER + rel, text === decoded && (ascii || isUtf8(body)) ? body : Buffer.from(text, 'utf8'), text);
    });
  }
  configBodies.clear();
  await Promise.all(compressing);

  // The documents, masked; each is scanned with its text (see secretScanner), not decoded again.
  // The file list goes first, at once: the biggest, it compresses in the thread pool while the others are made.
  const masked = (text: string) => {
    const out = masker.text(text);
    return { body: Buffer.from(out, 'utf8'), text: out };
  };
  const structure = masked(
    repoStructureYaml(described, git ? null : `${path.basename(src.repoDir)} is not a git checkout: no repository file is bundled (only tracked files are ever copied)`),
  );
  const placing = [add(ENTRY.repoStructure, structure.body, structure.text)];
  // The small documents; a later entry of the same name replaces an earlier one.
  const documents = new Map<string, { body: Buffer; text: string }>();
  const addText = (entry: string, text: string) => documents.set(entry, masked(text));
  const addYaml = (entry: string, doc: unknown) => addText(entry, stringify(doc, { lineWidth: 0 }));
  addYaml(
    ENTRY.envManifest,
    envManifest({ name, createdAt: new Date(src.nowMs).toISOString(), identity: src.identity, repoDir: src.repoDir, git, restorePoint: src.restorePoint }),
  );
  addYaml(ENTRY.contextMap, contextMap({ handover, mode: src.identity.mode, git }));
  addYaml(ENTRY.git, gitDocument(git));
  addText(ENTRY.handover, handoverText || '# Handover\n\n(no handover file found)\n');
  for (const sample of await rawSamples(src.store, src.streams, src.settings.sampleLines, masker, src.nowMs)) addText(sample.name, sample.text);
  for (const sample of await logSample(src.logsDir, src.settings.logLines, masker)) addText(sample.name, sample.text);
  // Each entry's sum is known as soon as it is added: SHA256SUMS need not wait for the big documents to compress.
  for (const [entry, { body, text }] of documents) placing.push(add(entry, body, text));
  const sorted = [...sums.keys()].sort((a, b) => (a < b ? -1 : 1));
  const checksums = `${sorted.map((entry) => `${sums.get(entry)}  ${entry}`).join('\n')}\n`;
  placing.push(add(ENTRY.checksums, Buffer.from(checksums), checksums));
  await Promise.all(placing);
  const bytes = await zip.finish();
  limits.finish(sums.size);
  scan.finish(bytes);
  // Every entry: the ones SHA256SUMS lists, and SHA256SUMS itself in its place.
  const files = [...sorted, ENTRY.checksums].sort((a, b) => (a < b ? -1 : 1));
  return { name, bytes, sha256: sha256Hex(bytes), files };
}

/** `s` as a string of its own, not a view into a larger one (V8 keeps the larger one alive for it). */
const ownCopy = (s: string): string => Buffer.from(s, 'utf8').toString('utf8');

/** What headerLines looks at (the path and purpose lines open a file). */
const HEADER_CHARS = 1024;
/** Repository files read in one window (and compressed while the next window is read). */
const FILE_WINDOW = 64;
/** Bytes of config files kept from bundleMasker for the bundle (a repository of large JSON fixtures is read twice rather than held). */
const CONFIG_KEEP_BYTES = 32 << 20;
/** What looksBinary and headerLines look at: all that is read of a file too big to be copied. */
const HEAD_BYTES = 8192;

/**
 * The runtime's masker plus the secrets by kind in the copied config files (a webhook URL in a
 * config/app.yaml other than the loaded one): masked in every entry and covered by the scan.
 * Only the files secretsInConfigFile reads (by name) are read for it, before any entry is masked;
 * what the bundle needs of them is kept (`configBodies`, by path; up to CONFIG_KEEP_BYTES) so the
 * bundle does not read them a second time.
 */
async function bundleMasker(src: BundleSources, listed: readonly string[]): Promise<{ masker: Masker; configBodies: Map<string, RepoRead | null> }> {
  const candidates = listed.filter(mayHoldConfigSecrets);
  const found: string[] = [];
  const configBodies = new Map<string, RepoRead | null>();
  let keptBytes = 0;
  const prefix = pathPrefix(src.repoDir);
  for (let i = 0; i < candidates.length; i += FILE_WINDOW) {
    const window = candidates.slice(i, i + FILE_WINDOW);
    // Read whole whatever their size: a secret may sit anywhere in a config file.
    const reads = await timeSliced(window, (rel) => readRepoFile(prefix + rel, Infinity, HEAD_BYTES));
    reads.forEach((read, j) => {
      const rel = window[j]!;
      if (!read) return configBodies.set(rel, null);
      // What the bundle will use of it: the whole file when it is copied, else its head (as readRepoFile gives it); within a bound, else it is read again.
      const kept = read.bytes <= src.settings.maxFileBytes ? read : { bytes: read.bytes, body: Buffer.from(read.body.subarray(0, HEAD_BYTES)) };
      if (keptBytes + kept.body.length <= CONFIG_KEEP_BYTES) {
        configBodies.set(rel, kept);
        keptBytes += kept.body.length;
      }
      if (!looksBinary(read.body)) found.push(...secretsInConfigFile(rel, read.body.toString('utf8')));
    });
  }
  return { masker: extendMasker(src.masker, found), configBodies };
}

/**
 * What assertNoSecrets checks on a finished zip, done entry by entry on the bytes handed to the zip
 * writer (no re-reading and inflating the archive): the entry's name and uncompressed content,
 * plain or base64, must hold no secret value nor a secret-shaped string; `finish` checks the raw
 * zip bytes for the values and throws the same refusal as assertNoSecrets, naming the entries.
 */
function secretScanner(secrets: readonly string[], patterns: readonly RegExp[] = SECRET_PATTERNS) {
  const hit = leakTest(secrets, patterns);
  const leaks: string[] = [];
  return {
    /** `text`: `body` as UTF-8 when the caller has it already. */
    entry(name: string, body: Buffer, text?: string): void {
      // The body first: its text is usually the string the masker has just found no hint in (patternsFor remembers it).
      if (hit(body, text) || hit.inName(name)) leaks.push(hit.masked(name));
    },
    finish(zipBytes: Buffer): void {
      if (hit.needles.some((n) => zipBytes.includes(n))) leaks.unshift('(zip bytes)');
      refuseLeaks(leaks);
    },
  };
}

/** A test for one body: a secret value (plain or base64) in its bytes, or a secret-shaped string that is not the mask. */
function leakTest(secrets: readonly string[], patterns: readonly RegExp[]) {
  const needles = secrets.flatMap((s) => [Buffer.from(s), Buffer.from(Buffer.from(s).toString('base64'))]);
  // What the masker left behind (`***`) matches some patterns (a URL's user:***@); only a real value is a leak.
  const shaped = (text: string) => patternsFor(text, patterns).some((p) => [...text.matchAll(new RegExp(p.source, p.flags))].some((m) => m[0] !== MASK));
  const hit = (body: Buffer, text?: string) => needles.some((n) => body.includes(n)) || shaped(text ?? body.toString('utf8'));
  // A name is a string already: searched as one (a UTF-8 string holds another exactly when its bytes hold the other's).
  const asText = needles.map((n) => n.toString('utf8'));
  const inName = (entry: string) => asText.some((n) => entry.includes(n)) || shaped(entry);
  /** A name as a refusal may print it: a secret value (a file named after one) or a secret-shaped part replaced with the mask. */
  const masked = (entry: string) => patterns.reduce((out, p) => out.replace(new RegExp(p.source, p.flags), MASK), asText.reduce((out, n) => out.replaceAll(n, MASK), entry));
  return Object.assign(hit, { needles, inName, masked });
}

function refuseLeaks(leaks: readonly string[]): void {
  if (leaks.length) {
    throw new BtcError('Internal', `handoff bundle refused: a secret value was found in ${leaks.join(', ')}`);
  }
}

/**
 * The caps `handoff load` reads a bundle under (BUNDLE_LIMITS), checked on each entry as it is
 * written: a bundle is refused here, with the message openZip would give, rather than stored and
 * refused when loaded. `compressed` is the entry's deflated size.
 */
function limitsGuard(limits: UnzipLimits) {
  let total = 0;
  const what = 'bundle';
  const MiB = (n: number) => (n < 1 << 20 ? `${n} bytes` : `${Math.round((n / (1 << 20)) * 10) / 10} MiB`);
  const refuse = (name: string, bytes: number, says: string) => new BtcError('InvalidInput', `${what} refused: entry "${name}" declares ${MiB(bytes)} (${says})`);
  return {
    // Called for thousands of entries: the messages are made only for a refusal.
    entry(name: string, bytes: number, compressed: number): void {
      if (bytes > limits.maxEntryBytes) throw refuse(name, bytes, `per-entry limit ${MiB(limits.maxEntryBytes)}`);
      if (bytes > limits.maxTotalBytes - total) throw refuse(name, bytes, `total limit ${MiB(limits.maxTotalBytes)} for the archive`);
      if (bytes > Math.max(RATIO_FLOOR_BYTES, compressed * limits.maxRatio)) throw refuse(name, bytes, `compression ratio limit ${limits.maxRatio}:1`);
      total += bytes;
    },
    finish(entries: number): void {
      if (entries > limits.maxEntries) throw new BtcError('InvalidInput', `${what} refused: ${entries} entries (limit ${limits.maxEntries})`);
    },
  };
}

/**
 * Fails when any secret value appears in the zip — in its raw bytes, an entry name or any entry's
 * uncompressed content (plain or base64) — or when any entry or name still matches one of
 * `patterns` (a secret-shaped string the masker should have replaced). Entries are read through
 * the bounded reader. The error names the entries, never the value.
 */
export async function assertNoSecrets(bytes: Buffer, secrets: readonly string[], patterns: readonly RegExp[] = SECRET_PATTERNS): Promise<void> {
  const hit = leakTest(secrets, patterns);
  const leaks: string[] = [];
  if (hit.needles.some((n) => bytes.includes(n))) leaks.push('(zip bytes)');
  const { openZip } = await import('./unzip.ts'); // the reader (yauzl, fflate) only for a check of a finished zip
  const zip = await openZip(bytes, BUNDLE_LIMITS, 'bundle');
  for (const entry of zip.entries) {
    if (hit.inName(entry.name) || (!entry.dir && hit(await zip.read(entry.name)))) leaks.push(hit.masked(entry.name));
  }
  refuseLeaks(leaks);
}
