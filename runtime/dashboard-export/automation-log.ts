// runtime/dashboard-export/automation-log.ts
// The automation log: one JSON line (< 4 KB) per run with a gap-free sequence, as create-only objects.

import { BtcError, isBtcError } from '../errors.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { swapJson, readJson } from './manifest.ts';
import { AUTOMATION_LINE_MAX_BYTES, automationSequenceSchema, type AutomationEntry } from './schemas.ts';
import { AUTOMATION_ENTRY_PATTERN, AUTOMATION_LOG_PREFIX, AUTOMATION_SEQUENCE_KEY, automationEntryKey } from '../keys.ts';

/** A warning lists at most this many missing numbers, so its line stays far below 4 KB. */
const MAX_MISSING_LISTED = 200;
const MAX_ACKNOWLEDGED_KEPT = 1000;
const MAX_CLAIM_ATTEMPTS = 50;

export type NewEntry = Omit<AutomationEntry, 'sequence'>;

export interface AppendResult {
  entry: AutomationEntry;
  line: string;
  /** The status="warning" entry written first when numbers were found missing. */
  warning: { entry: AutomationEntry; line: string } | null;
}

/** Sequence numbers present in the log, ascending. */
export async function listSequences(store: ObjectStore): Promise<number[]> {
  const found: number[] = [];
  for await (const o of listAll(store, AUTOMATION_LOG_PREFIX)) {
    const m = AUTOMATION_ENTRY_PATTERN.exec(o.key);
    if (m) found.push(Number(m[1]));
  }
  return found.sort((a, b) => a - b);
}

/** Numbers between the first entry and the highest issued that have no entry. */
export function missingSequences(present: number[], lastIssued: number): number[] {
  if (present.length === 0 && lastIssued === 0) return [];
  const have = new Set(present);
  const from = present.length ? Math.min(present[0]!, 1) : 1;
  const to = Math.max(present[present.length - 1] ?? 0, lastIssued);
  const missing: number[] = [];
  for (let n = from; n <= to; n++) if (!have.has(n)) missing.push(n);
  return missing;
}

/**
 * Appends an entry. The number is claimed by creating its object (If-None-Match), so two writers never
 * share one and a crash cannot leave a hole. Holes that appear anyway (an entry deleted, or lost with a
 * cache) are reported once by a status="warning" entry before this run's own entry.
 */
export async function appendAutomationEntry(store: ObjectStore, entry: NewEntry): Promise<AppendResult> {
  const present = await listSequences(store);
  const pointer = (await readJson(store, AUTOMATION_SEQUENCE_KEY, automationSequenceSchema)).doc ?? { last: 0, acknowledged_missing: [] };
  const acknowledged = new Set(pointer.acknowledged_missing);
  const missing = missingSequences(present, pointer.last).filter((n) => !acknowledged.has(n));
  let next = Math.max(present[present.length - 1] ?? 0, pointer.last) + 1;

  let warning: AppendResult['warning'] = null;
  if (missing.length > 0) {
    const w = await claim(store, next, {
      ...entry,
      status: 'warning',
      duration_ms: null,
      diagnostics: { error_code: 'sequence_gap', missing: missing.slice(0, MAX_MISSING_LISTED), missing_total: missing.length },
    });
    warning = w;
    next = w.entry.sequence + 1;
  }
  const written = await claim(store, next, entry);
  await swapJson(store, AUTOMATION_SEQUENCE_KEY, automationSequenceSchema, (cur) => ({
    last: Math.max(cur?.last ?? 0, written.entry.sequence),
    acknowledged_missing: [...new Set([...(cur?.acknowledged_missing ?? []), ...missing])].sort((a, b) => a - b).slice(-MAX_ACKNOWLEDGED_KEPT),
  }));
  return { ...written, warning };
}

async function claim(store: ObjectStore, from: number, entry: NewEntry): Promise<{ entry: AutomationEntry; line: string }> {
  for (let sequence = from; sequence < from + MAX_CLAIM_ATTEMPTS; sequence++) {
    const full: AutomationEntry = { sequence, ...entry };
    const line = fitLine(full);
    try {
      await store.put(automationEntryKey(sequence), line + '\n', { ifNoneMatch: '*', contentType: 'application/json' });
      return { entry: JSON.parse(line) as AutomationEntry, line };
    } catch (err) {
      if (!isBtcError(err, 'PreconditionFailed')) throw err; // taken by a concurrent run: try the next
    }
  }
  throw new BtcError('Conflict', `automation log: no free sequence after ${MAX_CLAIM_ATTEMPTS} attempts from ${from}`);
}

/** One line under 4 KB: oversized diagnostics are cut down to their error code and a note. */
export function fitLine(entry: AutomationEntry): string {
  const line = JSON.stringify(entry);
  if (Buffer.byteLength(line) < AUTOMATION_LINE_MAX_BYTES) return line;
  const { error_code, missing } = entry.diagnostics;
  const slim: AutomationEntry = {
    ...entry,
    diagnostics: { error_code: error_code ?? null, ...(missing ? { missing: missing.slice(0, 50) } : {}), truncated: true },
  };
  const slimLine = JSON.stringify(slim);
  if (Buffer.byteLength(slimLine) < AUTOMATION_LINE_MAX_BYTES) return slimLine;
  return JSON.stringify({ ...slim, job_id: slim.job_id.slice(0, 100), diagnostics: { error_code: error_code ?? null, truncated: true } });
}
