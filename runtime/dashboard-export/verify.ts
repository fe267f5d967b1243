// runtime/dashboard-export/verify.ts
// The nightly chain check: automation log, heartbeat, manifest checksums, required secrets.

import { z } from 'zod';
import { listAll, type ObjectStore } from '../store/types.ts';
import { DATASETS } from './keys.ts';
import { missingSequences } from './automation-log.ts';
import { sha256Hex } from '../hash.ts';
import { highestManifestSequence, readJson } from './manifest.ts';
import { AUTOMATION_LINE_MAX_BYTES, automationEntrySchema, automationSequenceSchema, heartbeatSchema, manifestSchema, type AutomationEntry } from './schemas.ts';
import { AUTOMATION_ENTRY_PATTERN, AUTOMATION_LOG_PREFIX, AUTOMATION_SEQUENCE_KEY, HEARTBEAT_KEY, historyKey, MANIFEST_KEY } from '../keys.ts';

const HOURS = { error: 'must be a positive number of hours' };

/**
 * The check's limits as input, one schema for both doors: `runtime dashboard verify`'s flags
 * (runtime/cli/dashboard.ts derives them from it) and the body of a worker's POST /dashboard/verify.
 * Each door supplies its own default age limit.
 */
export const verifyInputSchema = z
  .object({
    max_heartbeat_age_h: z.number(HOURS).positive(HOURS).optional().describe('fail when the heartbeat or a dataset success is older (hours; default: `runtime dashboard verify` one export period plus a quarter, 7.5 for 6 h; POST /dashboard/verify on a worker 6)'),
    expected_datasets: z.array(z.enum(DATASETS)).optional().describe('dataset that must be present and ok (default all)'),
    secrets: z.array(z.string().min(1).max(200)).max(50).optional().describe('environment variable that must be set (only names are reported)'),
  })
  .strict();
export type VerifyInput = z.infer<typeof verifyInputSchema>;

export interface VerifyOptions {
  now: number;
  maxHeartbeatAgeMs: number;
  expectedDatasets: string[];
  /** Names of environment variables that must be set; only names are ever reported. */
  secrets: string[];
  env: NodeJS.ProcessEnv;
}

export interface VerifyFinding {
  check: 'log' | 'heartbeat' | 'manifest' | 'secrets';
  code: string;
  message: string;
  [detail: string]: unknown;
}

export interface VerifyReport {
  [extra: string]: unknown;
  status: 'ok' | 'failed';
  checked_at: string;
  failures: VerifyFinding[];
  warnings: VerifyFinding[];
  summary: { log_entries: number; last_sequence: number | null; manifest_sequence: number | null; heartbeat_updated_at: string | null; secrets_checked: string[] };
}

export async function verifyChain(store: ObjectStore, o: VerifyOptions): Promise<VerifyReport> {
  const failures: VerifyFinding[] = [];
  const warnings: VerifyFinding[] = [];
  const fail = (f: VerifyFinding) => failures.push(f);

  // ── automation log: schema-valid single lines under 4 KB, gap-free (gaps already reported by a warning entry are warnings)
  const entries: AutomationEntry[] = [];
  for await (const info of listAll(store, AUTOMATION_LOG_PREFIX)) {
    const m = AUTOMATION_ENTRY_PATTERN.exec(info.key);
    if (!m) continue;
    const got = await store.getOrNull(info.key);
    if (!got) continue;
    const text = got.body.toString('utf8').replace(/\n$/, '');
    if (got.body.length >= AUTOMATION_LINE_MAX_BYTES) fail({ check: 'log', code: 'log_line_too_large', message: `${info.key} is ${got.body.length} bytes (limit ${AUTOMATION_LINE_MAX_BYTES})`, key: info.key });
    if (text.includes('\n')) fail({ check: 'log', code: 'log_not_one_line', message: `${info.key} holds more than one line`, key: info.key });
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      fail({ check: 'log', code: 'log_invalid_json', message: `${info.key} is not valid JSON`, key: info.key });
      continue;
    }
    const r = automationEntrySchema.safeParse(parsed);
    if (!r.success) {
      fail({ check: 'log', code: 'log_schema_invalid', message: `${info.key}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, key: info.key });
      continue;
    }
    if (r.data.sequence !== Number(m[1])) fail({ check: 'log', code: 'log_sequence_mismatch', message: `${info.key} says sequence ${r.data.sequence}`, key: info.key });
    entries.push(r.data);
  }
  entries.sort((a, b) => a.sequence - b.sequence);
  const pointer = (await readJson(store, AUTOMATION_SEQUENCE_KEY, automationSequenceSchema)).doc;
  const missing = missingSequences(
    entries.map((e) => e.sequence),
    pointer?.last ?? 0,
  );
  const acknowledged = new Set(entries.flatMap((e) => (e.status === 'warning' ? (e.diagnostics.missing ?? []) : [])));
  const unacknowledged = missing.filter((n) => !acknowledged.has(n));
  if (entries.length === 0) fail({ check: 'log', code: 'log_empty', message: 'the automation log has no entries' });
  if (unacknowledged.length) fail({ check: 'log', code: 'sequence_gap', message: `automation log sequence numbers missing: ${unacknowledged.slice(0, 20).join(', ')}`, missing: unacknowledged.slice(0, 200) });
  const reported = missing.filter((n) => acknowledged.has(n));
  if (reported.length) warnings.push({ check: 'log', code: 'sequence_gap_reported', message: `missing numbers already reported by a warning entry: ${reported.slice(0, 20).join(', ')}`, missing: reported.slice(0, 200) });
  // The last export (or other job) run; verify's own entries do not count, or one failed night would fail every next one.
  const lastRun = [...entries].reverse().find((e) => e.status !== 'warning' && e.job_name !== 'dashboard-verify');
  if (lastRun && lastRun.status === 'error') {
    fail({ check: 'log', code: 'last_run_failed', message: `last run ${lastRun.job_id} (sequence ${lastRun.sequence}) failed: ${lastRun.diagnostics.error_code ?? 'error'}`, error_code: lastRun.diagnostics.error_code ?? null });
  }

  // ── heartbeat: present, recent, every expected dataset ok and recently successful
  const age = (iso: string | null | undefined) => (iso ? o.now - Date.parse(iso) : Infinity);
  const maxH = o.maxHeartbeatAgeMs / 3_600_000;
  const hb = await readJson(store, HEARTBEAT_KEY, heartbeatSchema);
  if (!hb.doc) fail({ check: 'heartbeat', code: hb.invalid ? 'heartbeat_invalid' : 'heartbeat_missing', message: hb.invalid ?? `${HEARTBEAT_KEY} is missing` });
  else {
    if (!(age(hb.doc.updated_at) <= o.maxHeartbeatAgeMs)) fail({ check: 'heartbeat', code: 'heartbeat_stale', message: `heartbeat updated ${hb.doc.updated_at}, older than ${maxH} h` });
    for (const name of o.expectedDatasets) {
      const d = hb.doc.datasets[name];
      if (!d) fail({ check: 'heartbeat', code: 'heartbeat_dataset_missing', message: `heartbeat has no entry for ${name}`, dataset: name });
      else if (d.status !== 'ok') fail({ check: 'heartbeat', code: 'dataset_error', message: `${name}: ${d.last_error ?? 'error'}`, dataset: name });
      else if (!(age(d.last_success_at) <= o.maxHeartbeatAgeMs)) fail({ check: 'heartbeat', code: 'heartbeat_stale', message: `${name} last succeeded ${d.last_success_at}, older than ${maxH} h`, dataset: name });
    }
  }

  // ── manifest: expected datasets listed, stored bytes match size and sha256, history copy present
  const mf = await readJson(store, MANIFEST_KEY, manifestSchema);
  if (!mf.doc) fail({ check: 'manifest', code: mf.invalid ? 'manifest_invalid' : 'manifest_missing', message: mf.invalid ?? `${MANIFEST_KEY} is missing` });
  else {
    for (const name of o.expectedDatasets) {
      const d = mf.doc.datasets.find((x) => x.name === name);
      if (!d) {
        fail({ check: 'manifest', code: 'dataset_missing', message: `manifest lists no ${name}`, dataset: name });
        continue;
      }
      const got = await store.getOrNull(d.key);
      if (!got) fail({ check: 'manifest', code: 'dataset_missing', message: `${d.key} is missing`, dataset: name });
      else if (sha256Hex(got.body) !== d.checksum_sha256 || got.body.length !== d.bytes) {
        fail({ check: 'manifest', code: 'checksum_mismatch', message: `${d.key}: sha256 ${sha256Hex(got.body)} (${got.body.length} B) ≠ manifest ${d.checksum_sha256} (${d.bytes} B)`, dataset: name });
      }
    }
    // The sequence never goes back: a manifest below a number the history or the log remember was recreated or rolled back.
    const remembered = await highestManifestSequence(store);
    const logged = Math.max(0, ...entries.map((e) => (typeof e.diagnostics.manifest_sequence === 'number' ? e.diagnostics.manifest_sequence : 0)));
    const highest = Math.max(remembered.sequence, logged);
    if (mf.doc.sequence < highest) {
      fail({ check: 'manifest', code: 'sequence_regressed', message: `manifest sequence ${mf.doc.sequence} is below ${highest}, already issued (${logged === highest ? 'automation log' : remembered.source})`, sequence: mf.doc.sequence, highest });
    }
    const copy = await readJson(store, historyKey(mf.doc.job_id, 'manifest.json'), manifestSchema);
    if (copy.doc?.sequence !== mf.doc.sequence) warnings.push({ check: 'manifest', code: 'history_copy_missing', message: `no history copy of manifest ${mf.doc.sequence} under ${historyKey(mf.doc.job_id, '')}` });
  }

  // ── secrets: set and non-empty; the value is never read into the report
  for (const name of o.secrets) {
    if (!o.env[name]) fail({ check: 'secrets', code: 'secret_missing', message: `environment variable ${name} is not set`, name });
  }

  return {
    status: failures.length ? 'failed' : 'ok',
    checked_at: new Date(o.now).toISOString(),
    failures,
    warnings,
    summary: {
      log_entries: entries.length,
      last_sequence: entries[entries.length - 1]?.sequence ?? null,
      manifest_sequence: mf.doc?.sequence ?? null,
      heartbeat_updated_at: hb.doc?.updated_at ?? null,
      secrets_checked: o.secrets,
    },
  };
}
