// runtime/segments.ts
// Write-ahead JSONL segments: durable local append (fsync), seal, idempotent upload under deterministic keys.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError, isBtcError } from './errors.ts';
import { etagOf } from './store/fs.ts';
import type { ObjectStore } from './store/types.ts';

export interface SegmentLogOptions {
  /** Local directory of this log (one per stream). */
  dir: string;
  /** Object key of a segment, from its first record and first seq. */
  keyFor(first: { seq: number; ts: number }, firstSeq: number): string;
  /** Seq of the first record ever written to this log. */
  firstSeq?: number;
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
  /** Next seq to assign. */
  nextSeq: number;
}

export type ShipOutcome = { key: string; result: 'uploaded' | 'already_present' } | { key: string; result: 'conflict' };

const OPEN_FILE = 'open.jsonl';
const STATE_FILE = 'state.json';
const SEALED_DIR = 'sealed';

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

  /** Appends records durably; resolves with the records as written (seq assigned) after fsync. */
  append(records: T[]): Promise<Array<T & { seq: number }>> {
    return this.serial(async () => {
      await this.open();
      if (records.length === 0) return [];
      const stamped = records.map((r) => ({ ...r, seq: this.nextSeq++ }));
      const text = stamped.map((r) => JSON.stringify(r)).join('\n') + '\n';
      const handle = await fsp.open(path.join(this.dir, OPEN_FILE), 'a');
      try {
        await handle.write(text);
        await handle.sync();
      } finally {
        await handle.close();
      }
      this.openFirst ??= { seq: stamped[0]!.seq, ts: stamped[0]!.ts };
      this.openCount += stamped.length;
      this.openBytes += Buffer.byteLength(text);
      return stamped;
    });
  }

  /** Closes the open segment (if any records) into sealed/, ready to ship. */
  seal(): Promise<SealedSegment | null> {
    return this.serial(async () => {
      await this.open();
      if (!this.openFirst || this.openCount === 0) return null;
      const key = this.options.keyFor(this.openFirst, this.openFirst.seq);
      const file = path.join(this.dir, SEALED_DIR, encodeURIComponent(key));
      await fsp.mkdir(path.dirname(file), { recursive: true });
      // Persist the next seq first, so a crash after the rename still continues the sequence.
      await writeFileDurable(path.join(this.dir, STATE_FILE), JSON.stringify({ nextSeq: this.nextSeq }));
      await fsp.rename(path.join(this.dir, OPEN_FILE), file);
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
    });
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
    await this.seal();
    const outcomes: ShipOutcome[] = [];
    for (const { key, file } of await this.sealed()) {
      const body = await fsp.readFile(file);
      const outcome = await putOnce(store, key, body);
      outcomes.push(outcome);
      if (outcome.result !== 'conflict') await fsp.rm(file, { force: true });
    }
    return outcomes;
  }

  private async recover(): Promise<RecoveryReport> {
    await fsp.mkdir(path.join(this.dir, SEALED_DIR), { recursive: true });
    const state = await fsp
      .readFile(path.join(this.dir, STATE_FILE), 'utf8')
      .then((t) => JSON.parse(t) as { nextSeq: number })
      .catch(() => null);
    this.nextSeq = state?.nextSeq ?? this.options.firstSeq ?? 0;
    const openPath = path.join(this.dir, OPEN_FILE);
    const content = await fsp.readFile(openPath).catch(() => null);
    let tornBytes = 0;
    if (content && content.length > 0) {
      const lastNewline = content.lastIndexOf(0x0a);
      const whole = content.subarray(0, lastNewline + 1);
      tornBytes = content.length - whole.length;
      if (tornBytes > 0) await fsp.truncate(openPath, whole.length);
      const lines = whole.toString('utf8').split('\n').filter(Boolean);
      if (lines.length > 0) {
        const first = JSON.parse(lines[0]!) as { seq: number; ts: number };
        const last = JSON.parse(lines[lines.length - 1]!) as { seq: number };
        this.openFirst = { seq: first.seq, ts: first.ts };
        this.openCount = lines.length;
        this.openBytes = whole.length;
        this.nextSeq = Math.max(this.nextSeq, last.seq + 1);
      }
    }
    return { tornBytes, nextSeq: this.nextSeq };
  }

  private serial<R>(fn: () => Promise<R>): Promise<R> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Uploads bytes under a key exactly once: create-only, and on a lost race compare the bytes. */
export async function putOnce(store: ObjectStore, key: string, body: Buffer): Promise<ShipOutcome> {
  try {
    await store.put(key, body, { ifNoneMatch: '*' });
    return { key, result: 'uploaded' };
  } catch (err) {
    if (!isBtcError(err, 'PreconditionFailed')) throw err;
    const existing = await store.get(key);
    if (existing.etag === etagOf(body) || existing.body.equals(body)) return { key, result: 'already_present' };
    return { key, result: 'conflict' };
  }
}

async function writeFileDurable(file: string, text: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await fsp.open(tmp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fsp.rename(tmp, file);
}

export function assertNoConflicts(outcomes: ShipOutcome[]): void {
  const conflicts = outcomes.filter((o) => o.result === 'conflict');
  if (conflicts.length) {
    throw new BtcError('Conflict', `segment key exists with different bytes: ${conflicts.map((c) => c.key).join(', ')}`);
  }
}
