// runtime/segment-files.ts
// A segment log's folder on disk: its layout, and reading it back after a crash (the next seq, a torn last line cut).

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError } from './errors.ts';

/** The open segment: records are appended here (fsynced) until it is sealed. */
export const OPEN_FILE = 'open.jsonl';
/** `{ nextSeq }`, written at every seal. */
export const STATE_FILE = 'state.json';
/** Sealed segments waiting to be shipped, one file per key (URI-encoded). */
export const SEALED_DIR = 'sealed';
/** Segments whose key already holds other bytes in the store: kept here for the operator, never retried. */
export const CONFLICTS_DIR = 'conflicts';
const TORN_PREVIEW_CHARS = 120;

/**
 * The next seq of the log in `dir`: from state.json (or `firstSeq`), but past every seq still in a
 * sealed or conflicting segment.
 */
export async function nextSeqOnDisk(dir: string, firstSeq: number | undefined): Promise<number> {
  const state = await fsp
    .readFile(path.join(dir, STATE_FILE), 'utf8')
    .then((t) => JSON.parse(t) as { nextSeq: number })
    .catch(() => null);
  // state.json is written at every seal, but a lost or stale one must never make a seq be used
  // twice: the sealed (and conflicting) segments still on disk say how far the sequence went.
  return Math.max(state?.nextSeq ?? firstSeq ?? 0, (await lastSealedSeq(dir)) + 1);
}

/**
 * Reads the open segment of the log in `dir` and cuts a torn last line (truncate + fsync); null when
 * there is no open segment or it is empty. `keep` is the byte length of the whole records kept.
 * @throws BtcError Internal when a record before the last line is unreadable.
 */
export async function recoverOpenSegment(
  dir: string,
): Promise<{ tornBytes: number; tornPreview: string; keep: number; lines: Array<{ seq: number; ts: number }> } | null> {
  const openPath = path.join(dir, OPEN_FILE);
  const content = await fsp.readFile(openPath).catch(() => null);
  if (!content || content.length === 0) return null;
  const { keep, lines } = wholeRecords(content);
  const tornBytes = content.length - keep;
  const tornPreview = content.subarray(keep, keep + TORN_PREVIEW_CHARS * 4).toString('utf8').slice(0, TORN_PREVIEW_CHARS);
  if (tornBytes > 0) {
    await fsp.truncate(openPath, keep);
    await syncFile(openPath);
  }
  return { tornBytes, tornPreview, keep, lines };
}

/** The highest seq in the segments sealed but not yet shipped (or kept as conflicts); -1 when none. */
async function lastSealedSeq(logDir: string): Promise<number> {
  let last = -1;
  for (const sub of [SEALED_DIR, CONFLICTS_DIR]) {
    const dir = path.join(logDir, sub);
    const names = await fsp.readdir(dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => !n.startsWith('.'))) last = Math.max(last, await lastSeqIn(path.join(dir, name)));
  }
  return last;
}

/**
 * The whole, parseable records at the start of a segment file. A crash mid-append leaves a last
 * line without its newline (or, on some file systems, a newline-terminated line of zeros); both
 * are cut, and nothing before them.
 */
function wholeRecords(content: Buffer): { keep: number; lines: Array<{ seq: number; ts: number }> } {
  let keep = content.lastIndexOf(0x0a) + 1;
  const text = content.subarray(0, keep).toString('utf8');
  const raw = text.split('\n');
  raw.pop(); // after the final newline
  const lines: Array<{ seq: number; ts: number }> = [];
  for (const line of raw) lines.push(parseRecord(line) ?? { seq: NaN, ts: NaN });
  while (lines.length > 0 && Number.isNaN(lines[lines.length - 1]!.seq)) {
    lines.pop();
    keep -= Buffer.byteLength(raw[lines.length]!) + 1;
  }
  if (lines.some((l) => Number.isNaN(l.seq))) {
    throw new BtcError('Internal', 'segment has an unreadable record before its last line; refusing to guess (fix by hand)');
  }
  return { keep, lines };
}

function parseRecord(line: string): { seq: number; ts: number } | null {
  try {
    const record = JSON.parse(line) as { seq?: unknown; ts?: unknown };
    return typeof record.seq === 'number' && typeof record.ts === 'number' ? { seq: record.seq, ts: record.ts } : null;
  } catch {
    return null;
  }
}

async function syncFile(file: string): Promise<void> {
  const handle = await fsp.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The seq of the last whole record of a segment file (read from its tail); -1 when it has none. */
async function lastSeqIn(file: string): Promise<number> {
  const handle = await fsp.open(file, 'r').catch(() => null);
  if (!handle) return -1;
  try {
    const size = (await handle.stat()).size;
    // Grow the window until it holds a whole last line (records are small; a big order book is not).
    for (let window = 16 * 1024; ; window *= 4) {
      const start = Math.max(0, size - window);
      const tail = Buffer.alloc(size - start);
      await handle.read(tail, 0, tail.length, start);
      const lines = recordsInTail(tail, start === 0);
      if (lines.length > 0) return lines[lines.length - 1]!.seq;
      if (start === 0) return -1;
    }
  } finally {
    await handle.close();
  }
}

/** The parseable records of a segment tail; when `fromStart` is false the first (partial) line is skipped. */
function recordsInTail(tail: Buffer, fromStart: boolean): Array<{ seq: number; ts: number }> {
  const raw = tail.toString('utf8').split('\n');
  if (!fromStart) raw.shift();
  return raw.map(parseRecord).filter((r): r is { seq: number; ts: number } => r !== null);
}
