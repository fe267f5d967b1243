// runtime/dashboard-export/verify-run.ts
// The scheduled nightly verify: the chain check with a staleness limit that tolerates a late export, logged to the automation log.

import type { AppConfig } from '../../config/schema.ts';
import type { FnContext } from '../define.ts';
import path from 'node:path';
import { appendAutomationEntry } from './automation-log.ts';
import { AUTOMATION_LOCAL_FILE } from './export.ts';
import { DATASETS, defaultJobId } from './keys.ts';
import { verifyChain, type VerifyReport } from './verify.ts';

export const VERIFY_JOB_NAME = 'dashboard-verify';

/**
 * How old the heartbeat may be before verify fails: one export period plus a grace of a quarter
 * period (at least 30 min), so an export that runs a little late (a busy PC, a slow NAS, a restart
 * that delays the first run by two lease periods) is not a failure. 6 h exports → 7.5 h.
 */
export function defaultMaxHeartbeatAgeMs(config: Pick<AppConfig, 'dashboard'>): number {
  const periodMs = config.dashboard.everySeconds * 1000;
  return periodMs + Math.max(30 * 60_000, periodMs / 4);
}

/**
 * Runs verifyChain on the primary and appends the run to the automation log (job_name
 * dashboard-verify, status ok|error, the failure codes in diagnostics) and to
 * <logsDir>/automation_runs.log; audits dashboard.verify.complete|failed.
 */
export async function runScheduledVerify(ctx: FnContext, o: { maxHeartbeatAgeMs?: number; secrets?: string[] } = {}): Promise<VerifyReport & { automation_log: { sequence: number } | null }> {
  const started = performance.now();
  const now = ctx.clock.now();
  const report = await verifyChain(ctx.store.primary, {
    now,
    maxHeartbeatAgeMs: o.maxHeartbeatAgeMs ?? defaultMaxHeartbeatAgeMs(ctx.config),
    expectedDatasets: [...DATASETS],
    secrets: o.secrets ?? [],
    env: process.env,
  });
  const codes = [...new Set(report.failures.map((f) => f.code))];
  let automation: { sequence: number } | null = null;
  try {
    const result = await appendAutomationEntry(ctx.store.primary, {
      job_name: VERIFY_JOB_NAME,
      job_id: `verify-${defaultJobId(now, ctx.host)}`,
      host: ctx.host,
      status: report.status === 'ok' ? 'ok' : 'error',
      at: new Date(now).toISOString(),
      duration_ms: Math.round(performance.now() - started),
      diagnostics: { error_code: codes[0] ?? null, failures: codes.slice(0, 20), warnings: report.warnings.length, manifest_sequence_seen: report.summary.manifest_sequence },
    });
    await ctx.files?.append(path.join(ctx.paths.logsDir, AUTOMATION_LOCAL_FILE), [result.warning?.line, result.line].filter(Boolean).join('\n') + '\n', undefined, { rotate: true });
    automation = { sequence: result.entry.sequence };
  } catch (err) {
    ctx.log.warn({ err: String(err) }, 'automation log append failed (dashboard-verify)');
  }
  await ctx.audit.record(report.status === 'ok' ? 'dashboard.verify.complete' : 'dashboard.verify.failed', { failures: codes, warnings: report.warnings.map((w) => w.code), automation_sequence: automation?.sequence ?? null });
  return { ...report, automation_log: automation };
}
