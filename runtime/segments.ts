// runtime/segments.ts
// Write-ahead JSONL segments: durable local append (fsync), seal, idempotent upload under deterministic keys.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { appendDurable, fsyncDir, openForAppend, writeFileDurable, type OpenForAppend } from './durable.ts';
import { BtcError, isBtcError } from './errors.ts';
import { acquireFileLock } from './file-lock.ts';
import { CONFLICTS_DIR, nextSeqOnDisk, OPEN_FILE, recoverOpenSegment, SEALED_DIR, STATE_FILE } from './segment-files.ts';
import { etagOf } from './store/fs.ts';
import type { ObjectStore, PutOptions } from './store/types.ts';

export interface SegmentLogOptions {
  /** Local directory of this log (one per stream). */
  dir: string;
  /** Object key of a segment, from its first record and first seq. */
  keyFor(first: { seq: number; ts: number }, firstSeq: number): string;
  /** Seq of the first record ever written to this log. */
  firstSeq?: number;
  /**
   * Several processes of one host write this log (the audit trail: the server and short-lived
   * CLI commands). Every append, seal and ship then runs under an inter-process lock and re-reads
   * the log from disk first, so they share one gap-free seq and never produce two segments with
   * one key. Costs a few file operations per call: meant for low-rate logs.
   */
  shared?: boolean;
  /** Opens the open segment for an append (tests hand in a handle that writes short or fails). */
  openForAppend?: OpenForAppend;
}

export interface SealedSegment {
  key: string;
  file: string;
  firstSeq: number;
  lastSeq: number;
  records: number;
  bytes: number;
}

export interface RecoveryReport {
  /** Bytes of a torn last line cut on open (a crash mid-append); 0 when the file was whole. */
  tornBytes: number;
  /** The start of what was cut (at most TORN_PREVIEW_CHARS, segment-files.ts), so an operator can see what it was. */
  tornPreview: string;
  /** Whole records kept in the open segment. */
  goodRecords: number;
  /** Next seq to assign. */
  nextSeq: number;
}

export type ShipOutcome =
  | { key: string; result: 'uploaded' | 'already_present'; bytes: number }
  | { key: string; result: 'conflict'; bytes: number; localEtag: string; remoteEtag: string; keptAt?: string };

const LOCK_FILE = 'writer.lock';
/** A lock older than this was left by a crashed process (appends hold it for milliseconds). */
const STALE_LOCK_MS = 10_000;

/**
 * One append-only stream. Records get a gap-free `seq`; appends are fsynced before they are
 * acknowledged; a sealed segment is uploaded once under its key and deleted locally only after.
 */
export class SegmentLog<T extends { ts: number }> {
  private readonly dir: string;
  private readonly options: SegmentLogOptions;
  private nextSeq = 0;
  private openFirst: { seq: number; ts: number } | null = null;
  private openCount = 0;
  private openBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private shipping: Promise<unknown> = Promise.resolve();
  private opened: Promise<RecoveryReport> | undefined;

  constructor(options: SegmentLogOptions) {
    this.options = options;
    this.dir = options.dir;
  }

  /** Recovers the open segment: cuts a torn last line and continues seq where it stopped. */
  open(): Promise<RecoveryReport> {
    this.opened ??= this.recover();
    return this.opened;
  }

  /**
   * Appends records durably, whole or not at all; resolves with the records as written (seq
   * assigned) after fsync. On a write or fsync error (a full disk: BtcError `DiskFull`; a failed
   * device: `IoError`; see durable.ts) the open segment is cut back to where it was and the seq
   * numbers are given back: nothing of a rejected append is acknowledged or kept, so the next
   * append continues the sequence without a gap.
   */
  append(records: T[]): Promise<Array<T & { seq: number }>> {
    return this.exclusive(async () => {
      if (records.length === 0) return [];
      const stamped = records.map((r, i) => ({ ...r, seq: this.nextSeq + i }));
      const text = Buffer.from(stamped.map((r) => JSON.stringify(r)).join('\n') + '\n');
      await appendDurable(path.join(this.dir, OPEN_FILE), text, this.options.openForAppend ?? openForAppend);
      this.nextSeq += stamped.length;
      this.openFirst ??= { seq: stamped[0]!.seq, ts: stamped[0]!.ts };
      this.openCount += stamped.length;
      this.openBytes += text.length;
      return stamped;
    });
  }

  /** Closes the open segment (if any records) into sealed/, ready to ship. */
  seal(): Promise<SealedSegment | null> {
    return this.exclusive(() => this.sealNow());
  }

  private async sealNow(): Promise<SealedSegment | null> {
    if (!this.openFirst || this.openCount === 0) return null;
    const key = this.options.keyFor(this.openFirst, this.openFirst.seq);
    const file = path.join(this.dir, SEALED_DIR, encodeURIComponent(key));
    await fsp.mkdir(path.dirname(file), { recursive: true });
    // Persist the next seq first, so a crash after the rename still continues the sequence.
    await writeFileDurable(path.join(this.dir, STATE_FILE), JSON.stringify({ nextSeq: this.nextSeq }));
    await fsp.rename(path.join(this.dir, OPEN_FILE), file);
    await fsyncDir(path.dirname(file));
    await fsyncDir(this.dir);
    const sealed: SealedSegment = {
      key,
      file,
      firstSeq: this.openFirst.seq,
      lastSeq: this.nextSeq - 1,
      records: this.openCount,
      bytes: this.openBytes,
    };
    this.openFirst = null;
    this.openCount = 0;
    this.openBytes = 0;
    return sealed;
  }

  /** Sealed segments waiting to be shipped, oldest first. */
  async sealed(): Promise<Array<{ key: string; file: string }>> {
    const names = await fsp.readdir(path.join(this.dir, SEALED_DIR)).catch(() => [] as string[]);
    return names
      .filter((n) => !n.startsWith('.'))
      .map((n) => ({ key: decodeURIComponent(n), file: path.join(this.dir, SEALED_DIR, n) }))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  /**
   * Seals and uploads every sealed segment with If-None-Match. A key already present with the
   * same bytes counts as done (a re-run after a crash); different bytes is a conflict and the
   * local file is kept — never an overwrite.
   */
  async ship(store: ObjectStore): Promise<ShipOutcome[]> {
    // One ship at a time per log: a tick and a sync flushing together must not race on one file.
    const run = this.shipping.then(() => this.shipSealed(store));
    this.shipping = run.catch(() => undefined);
    return run;
  }

  private async shipSealed(store: ObjectStore): Promise<ShipOutcome[]> {
    if (!this.options.shared) return this.uploadSealed(store, () => this.seal());
    // Shipping runs after every function run: only take the cross-process lock when there is work.
    // A record appended just after this look is shipped by the next run.
    if (!(await this.hasUnshipped())) return [];
    return this.exclusive(() => this.uploadSealed(store, () => this.sealNow()));
  }

  private async hasUnshipped(): Promise<boolean> {
    const open = await fsp.stat(path.join(this.dir, OPEN_FILE)).catch(() => null);
    return (open?.size ?? 0) > 0 || (await this.sealed()).length > 0;
  }

  private async uploadSealed(store: ObjectStore, sealFirst: () => Promise<unknown>): Promise<ShipOutcome[]> {
    await sealFirst();
    const outcomes: ShipOutcome[] = [];
    for (const { key, file } of await this.sealed()) {
      const body = await fsp.readFile(file);
      const outcome = await putOnce(store, key, body);
      if (outcome.result === 'conflict') {
        const keptAt = path.join(this.dir, CONFLICTS_DIR, path.basename(file));
        await fsp.mkdir(path.dirname(keptAt), { recursive: true });
        await fsp.rename(file, keptAt);
        await fsyncDir(path.dirname(keptAt));
        outcomes.push({ ...outcome, keptAt });
      } else {
        outcomes.push(outcome);
        await fsp.rm(file, { force: true });
      }
    }
    return outcomes;
  }

  private async recover(): Promise<RecoveryReport> {
    await fsp.mkdir(path.join(this.dir, SEALED_DIR), { recursive: true });
    this.nextSeq = await nextSeqOnDisk(this.dir, this.options.firstSeq);
    const report: RecoveryReport = { tornBytes: 0, tornPreview: '', goodRecords: 0, nextSeq: this.nextSeq };
    const open = await recoverOpenSegment(this.dir);
    if (open) {
      report.tornBytes = open.tornBytes;
      report.tornPreview = open.tornPreview;
      if (open.lines.length > 0) {
        const first = open.lines[0]!;
        const last = open.lines[open.lines.length - 1]!;
        this.openFirst = { seq: first.seq, ts: first.ts };
        this.openCount = open.lines.length;
        this.openBytes = open.keep;
        this.nextSeq = Math.max(this.nextSeq, last.seq + 1);
      }
      report.goodRecords = open.lines.length;
    }
    report.nextSeq = this.nextSeq;
    return report;
  }

  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Serialised in this process; for a shared log also locked across processes and re-read from disk. */
  private exclusive<R>(fn: () => Promise<R>): Promise<R> {
    return this.serial(async () => {
      await this.open();
      if (!this.options.shared) return fn();
      const release = await acquireFileLock(path.join(this.dir, LOCK_FILE), { staleMs: STALE_LOCK_MS });
      try {
        // Another process may have appended or sealed since we last looked.
        this.openFirst = null;
        this.openCount = 0;
        this.openBytes = 0;
        await this.recover();
        return await fn();
      } finally {
        await release();
      }
    });
  }
}

/**
 * Uploads bytes under a key exactly once: create-only, verified by hash, and on a lost race the
 * bytes already there are compared (same → already_present, different → conflict, never overwritten).
 */
export async function putOnce(store: ObjectStore, key: string, body: Buffer, options: Pick<PutOptions, 'onThrottle'> = {}): Promise<ShipOutcome> {
  const localEtag = etagOf(body);
  try {
    const put = await store.put(key, body, { ifNoneMatch: '*', md5: localEtag, ...options });
    await verifyStored(store, key, body, localEtag, put.etag);
    return { key, result: 'uploaded', bytes: body.length };
  } catch (err) {
    if (!isBtcError(err, 'PreconditionFailed')) throw err;
    const existing = await store.get(key);
    if (existing.etag === localEtag || existing.body.equals(body)) return { key, result: 'already_present', bytes: body.length };
    return { key, result: 'conflict', bytes: body.length, localEtag, remoteEtag: existing.etag };
  }
}

/**
 * The store's ETag of a single PUT is the MD5 of what it received — unless the object is encrypted
 * (SSE-KMS, SSE-C: MinIO and AWS then answer 32 hex digits that are not the MD5) or the store makes
 * ETags its own way. The upload carried Content-MD5, which the store itself checked; a different
 * ETag is then settled by reading the object back and comparing byte for byte, never by failing
 * the segment forever. Throws Unavailable when the bytes read back differ.
 */
async function verifyStored(store: ObjectStore, key: string, body: Buffer, localEtag: string, remoteEtag: string): Promise<void> {
  if (remoteEtag === localEtag) return;
  const back = await store.get(key);
  if (!back.body.equals(body)) {
    throw new BtcError('Unavailable', `upload of ${key} reads back different bytes (etag ${remoteEtag}, local md5 ${localEtag})`, { details: { key } });
  }
}

export function assertNoConflicts(outcomes: ShipOutcome[]): void {
  const conflicts = outcomes.filter((o) => o.result === 'conflict');
  if (conflicts.length) {
    throw new BtcError('Conflict', `segment key exists with different bytes: ${conflicts.map((c) => c.key).join(', ')}`);
  }
}
