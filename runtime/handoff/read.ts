// runtime/handoff/read.ts
// Validates a handoff bundle (ours, complete, unaltered, no path escaping) and reads where to continue.

import { parse as parseYaml } from 'yaml';
import { BtcError } from '../errors.ts';
import { sha256Hex } from '../hash.ts';
import { BUNDLE_FORMAT, ENTRY } from './sections.ts';
import { openZip, type ZipReader } from './unzip.ts';
import { BUNDLE_LIMITS } from './zip-limits.ts';

export interface LoadedBundle {
  sha256: string;
  bytes: number;
  files: string[];
  manifest: {
    bundle: { format: string; version: number; name: string; created_at: string };
    host: string;
    actor: string;
    site: string;
    session: string;
    mode: string;
    branch: string | null;
    commit: string | null;
    dirty: boolean | null;
    restore_point: string | null;
  };
  context: { phase: string | null; mode: string; next_tasks: string[]; open_tasks: string[]; files_in_progress: Array<{ path: string; change: string }> };
  handover: string;
}

const REQUIRED = [ENTRY.envManifest, ENTRY.contextMap, ENTRY.handover, ENTRY.repoStructure, ENTRY.git, ENTRY.checksums];

/** A name that would land outside the extraction directory (zip-slip) or is not portable. */
export function unsafeEntryName(name: string): string | null {
  if (name.includes('\0')) return 'NUL in name';
  if (name.includes('\\')) return 'backslash in name';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'absolute path';
  if (name.split('/').some((segment) => segment === '..')) return 'parent directory (..) segment';
  return null;
}

/**
 * Opens and checks a bundle. Every failure is InvalidInput with one clear reason: not a zip or
 * truncated, an unsafe entry name, not a btc-ts bundle, a missing part, a checksum mismatch, an
 * entry or archive that expands past BUNDLE_LIMITS (size or ratio).
 */
export async function readBundle(bytes: Buffer, expectedSha256?: string): Promise<LoadedBundle> {
  const sha256 = sha256Hex(bytes);
  if (expectedSha256 && expectedSha256.toLowerCase() !== sha256) {
    throw new BtcError('InvalidInput', `sha256 mismatch: bundle is ${sha256}, expected ${expectedSha256}`);
  }
  // Bounded: a crafted zip is refused at the limit instead of expanding in memory (see unzip.ts).
  const zip = await openZip(bytes, BUNDLE_LIMITS, 'bundle');
  for (const entry of zip.entries) {
    const reason = unsafeEntryName(entry.name);
    if (reason) throw new BtcError('InvalidInput', `unsafe entry "${entry.name}" refused (${reason})`);
  }
  const files = zip.entries.filter((e) => !e.dir).map((e) => e.name).sort();
  const missing = REQUIRED.filter((name) => !zip.has(name));
  if (missing.length === REQUIRED.length || !zip.has(ENTRY.envManifest)) {
    throw new BtcError('InvalidInput', `not a btc-ts handoff bundle (no ${ENTRY.envManifest})`);
  }
  if (missing.length) throw new BtcError('InvalidInput', `incomplete bundle: missing ${missing.join(', ')}`);

  const text = async (name: string) => (await zip.read(name)).toString('utf8');
  const manifest = yamlOf(ENTRY.envManifest, await text(ENTRY.envManifest)) as LoadedBundle['manifest'];
  if (manifest?.bundle?.format !== BUNDLE_FORMAT) {
    throw new BtcError('InvalidInput', `not a btc-ts handoff bundle (${ENTRY.envManifest} has no bundle.format: ${BUNDLE_FORMAT})`);
  }
  await verifyChecksums(zip, await text(ENTRY.checksums));
  const context = yamlOf(ENTRY.contextMap, await text(ENTRY.contextMap)) as LoadedBundle['context'];
  return {
    sha256,
    bytes: bytes.length,
    files,
    manifest,
    context: { ...context, next_tasks: context?.next_tasks ?? [], open_tasks: context?.open_tasks ?? [], files_in_progress: context?.files_in_progress ?? [] },
    handover: await text(ENTRY.handover),
  };
}

async function verifyChecksums(zip: ZipReader, sums: string): Promise<void> {
  const listed = new Set<string>();
  for (const line of sums.split('\n').filter(Boolean)) {
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!match) throw new BtcError('InvalidInput', `${ENTRY.checksums}: malformed line "${line.slice(0, 80)}"`);
    const [, expected, name] = match;
    listed.add(name!);
    if (!zip.has(name!)) throw new BtcError('InvalidInput', `${ENTRY.checksums} lists ${name} but the bundle lacks it`);
    if (sha256Hex(await zip.read(name!)) !== expected) throw new BtcError('InvalidInput', `${name} was altered (checksum mismatch)`);
  }
  const unlisted = zip.entries.filter((e) => !e.dir && e.name !== ENTRY.checksums && !listed.has(e.name));
  if (unlisted.length) throw new BtcError('InvalidInput', `entries not in ${ENTRY.checksums}: ${unlisted.map((e) => e.name).join(', ')}`);
}

function yamlOf(name: string, text: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw new BtcError('InvalidInput', `${name} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}
