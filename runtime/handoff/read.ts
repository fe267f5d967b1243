// runtime/handoff/read.ts
// Validates a handoff bundle (ours, complete, unaltered, no path escaping) and reads where to continue.

import JSZip from 'jszip';
import { parse as parseYaml } from 'yaml';
import { BtcError } from '../errors.ts';
import { sha256Hex } from '../hash.ts';
import { BUNDLE_FORMAT, ENTRY } from './sections.ts';

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
 * truncated, an unsafe entry name, not a btc-ts bundle, a missing part, a checksum mismatch.
 */
export async function readBundle(bytes: Buffer, expectedSha256?: string): Promise<LoadedBundle> {
  const sha256 = sha256Hex(bytes);
  if (expectedSha256 && expectedSha256.toLowerCase() !== sha256) {
    throw new BtcError('InvalidInput', `sha256 mismatch: bundle is ${sha256}, expected ${expectedSha256}`);
  }
  let zip: JSZip;
  try {
    zip = await JSZip.loadAsync(bytes, { checkCRC32: true });
  } catch (err) {
    throw new BtcError('InvalidInput', `not a valid zip (truncated or corrupt): ${(err as Error).message}`);
  }
  const entries = Object.values(zip.files);
  for (const entry of entries) {
    // jszip strips `../` from `name`; the original is what an unzip tool would write.
    const original = (entry as JSZip.JSZipObject & { unsafeOriginalName?: string }).unsafeOriginalName ?? entry.name;
    const reason = unsafeEntryName(original) ?? unsafeEntryName(entry.name);
    if (reason) throw new BtcError('InvalidInput', `unsafe entry "${original}" refused (${reason})`);
  }
  const files = entries.filter((e) => !e.dir).map((e) => e.name).sort();
  const missing = REQUIRED.filter((name) => !zip.files[name]);
  if (missing.length === REQUIRED.length || !zip.files[ENTRY.envManifest]) {
    throw new BtcError('InvalidInput', `not a btc-ts handoff bundle (no ${ENTRY.envManifest})`);
  }
  if (missing.length) throw new BtcError('InvalidInput', `incomplete bundle: missing ${missing.join(', ')}`);

  const text = async (name: string) => {
    try {
      return await zip.files[name]!.async('string');
    } catch (err) {
      throw new BtcError('InvalidInput', `cannot read ${name} (corrupt entry): ${(err as Error).message}`);
    }
  };
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

async function verifyChecksums(zip: JSZip, sums: string): Promise<void> {
  const listed = new Set<string>();
  for (const line of sums.split('\n').filter(Boolean)) {
    const match = /^([0-9a-f]{64}) {2}(.+)$/.exec(line);
    if (!match) throw new BtcError('InvalidInput', `${ENTRY.checksums}: malformed line "${line.slice(0, 80)}"`);
    const [, expected, name] = match;
    listed.add(name!);
    const entry = zip.files[name!];
    if (!entry) throw new BtcError('InvalidInput', `${ENTRY.checksums} lists ${name} but the bundle lacks it`);
    if (sha256Hex(await entry.async('nodebuffer')) !== expected) throw new BtcError('InvalidInput', `${name} was altered (checksum mismatch)`);
  }
  const unlisted = Object.values(zip.files).filter((e) => !e.dir && e.name !== ENTRY.checksums && !listed.has(e.name));
  if (unlisted.length) throw new BtcError('InvalidInput', `entries not in ${ENTRY.checksums}: ${unlisted.map((e) => e.name).join(', ')}`);
}

function yamlOf(name: string, text: string): unknown {
  try {
    return parseYaml(text);
  } catch (err) {
    throw new BtcError('InvalidInput', `${name} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}
