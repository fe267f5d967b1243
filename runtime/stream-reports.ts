// runtime/stream-reports.ts
// Makes segment trouble loud (torn lines and conflicts into the audit) and keeps status in step with the router.

import type { AuditLog } from './audit.ts';
import type { Logger } from './logger.ts';
import type { StatusWriter } from './status.ts';
import type { StorageRouter } from './store/router.ts';
import type { StreamReport } from './streams.ts';

/**
 * A torn line cut on restart → `collector.segment.torn`; a segment whose key holds other bytes →
 * `collector.sync.failed` with reason `conflict` (the local copy is kept, nothing is overwritten);
 * a stream whose upload failed → `collector.segment.ship_failed` with its cause.
 */
export async function auditStreamReport(audit: AuditLog, log: Logger, report: StreamReport): Promise<void> {
  const stream = { exchange: report.stream.exchange, topic: report.stream.topic, symbol: report.stream.symbol, epoch: report.epoch };
  if (report.kind === 'torn') {
    const { tornBytes, tornPreview, goodRecords, nextSeq } = report.report;
    log.warn({ ...stream, tornBytes }, 'raw segment had a torn last line; cut on start');
    await audit.record('collector.segment.torn', { ...stream, torn_bytes: tornBytes, torn_preview: tornPreview, good_records: goodRecords, next_seq: nextSeq });
    return;
  }
  if (report.kind === 'unreadable') {
    log.error({ ...stream, err: report.error }, 'raw segment log cannot be read; left in place for the operator');
    await audit.record('collector.segment.unreadable', { ...stream, error: report.error });
    return;
  }
  if (report.kind === 'ship_failed') {
    log.error({ ...stream, cause: report.cause, err: report.error }, 'raw segments of this stream could not be uploaded; kept in the local log, retried next tick');
    await audit.record('collector.segment.ship_failed', { ...stream, cause: report.cause, error: report.error });
    return;
  }
  const { key, localEtag, remoteEtag, keptAt } = report.outcome;
  log.error({ ...stream, key, keptAt }, 'segment key already holds different bytes: conflict, not overwritten');
  await audit.record('collector.sync.failed', { reason: 'conflict', stage: 'ship', key, local_etag: localEtag, remote_etag: remoteEtag, kept_at: keptAt, ...stream });
}

/**
 * Status shows the storage state the moment the router changes it (a failed write fails over
 * without waiting for the next probe): primary down, cache used, sync pending.
 */
export function statusFollowsRouter(store: StorageRouter, status: StatusWriter, log: Logger): void {
  store.onSwitch(() => {
    const state = store.state();
    status
      .update(store, (doc) => {
        doc.storage.primary = state.primary;
        doc.storage.secondary = state.secondary;
        doc.storage.cause = state.cause;
        doc.sync.pending = state.syncPending || state.primary === 'down';
      })
      .catch((err) => log.warn({ err: String(err) }, 'status update after storage switch failed'));
  });
}
