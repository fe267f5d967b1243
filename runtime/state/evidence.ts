// runtime/state/evidence.ts
// Reads a strategy's fills from runs/<strategy>/<symbol>/<mode>/*.jsonl; one bad line refuses the whole evidence.

import { BtcError } from '../errors.ts';
import { listKeys, type ObjectStore } from '../store/types.ts';
import { fillSchema, type Fill, type StateTarget } from './model.ts';
import { runsPrefix } from '../keys.ts';

export interface Evidence {
  /** Every valid fill, oldest first (ties keep file and line order). */
  fills: Fill[];
  files: string[];
}

/**
 * Loads all fills of a target. A line that is not JSON or lacks a field is an InvalidInput
 * naming the object and line number: the evidence is used whole or not at all, never half.
 */
export async function loadEvidence(store: ObjectStore, target: StateTarget): Promise<Evidence> {
  const files = (await listKeys(store, runsPrefix(target))).filter((k) => k.endsWith('.jsonl'));
  const fills: Fill[] = [];
  for (const key of files) {
    const { body } = await store.get(key);
    fills.push(...parseFills(key, body.toString('utf8')));
  }
  // A stable sort keeps file/line order for equal timestamps, so the EWMA is reproducible.
  fills.sort((a, b) => a.ts - b.ts);
  return { fills, files };
}

/** Parses one JSONL object of fills; blank lines are allowed, anything else must be a valid fill. */
export function parseFills(source: string, text: string): Fill[] {
  const fills: Fill[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    const where = `${source} line ${i + 1}`;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      throw new BtcError('InvalidInput', `bad fill at ${where}: not valid JSON; no fill of this evidence was used`, {
        details: { source, line: i + 1 },
      });
    }
    const parsed = fillSchema.safeParse(raw);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(line)'}: ${issue.message}`).join('; ');
      throw new BtcError('InvalidInput', `bad fill at ${where}: ${problems}; no fill of this evidence was used`, {
        details: { source, line: i + 1, issues: parsed.error.issues },
      });
    }
    fills.push(parsed.data);
  }
  return fills;
}
