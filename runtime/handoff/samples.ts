// runtime/handoff/samples.ts
// Small masked samples for a bundle: first lines of each stream's newest raw segment, last lines of the log.

import { open } from 'node:fs/promises';
import path from 'node:path';
import type { StreamConfig } from '../../config/schema.ts';
import { LOG_FILE } from '../logger.ts';
import { isoDate } from '../clock.ts';
import type { Masker } from '../secrets.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { datePartitionStart, streamPrefix, symbolKey } from '../keys.ts';

export interface Sample {
  /** Path inside the bundle. */
  name: string;
  text: string;
}

/** Reading more than this from the end of the log is never needed for a few lines. */
const LOG_TAIL_BYTES = 256 * 1024;

/**
 * For every configured stream, the first `lines` lines of its newest raw segment in the store.
 * Keys sort by date, epoch and first seq, so the last key listed is the newest.
 */
export async function rawSamples(store: ObjectStore, streams: readonly StreamConfig[], lines: number, masker: Masker, nowMs: number): Promise<Sample[]> {
  if (lines === 0) return [];
  const samples: Sample[] = [];
  for (const stream of streams) {
    for (const symbol of stream.symbols) {
      const id = { exchange: stream.exchange, topic: stream.topic, symbol };
      const newest = await newestKey(store, streamPrefix(id), nowMs);
      if (!newest) continue;
      const object = await store.getOrNull(newest);
      if (!object) continue;
      const head = object.body.toString('utf8').split('\n').filter(Boolean).slice(0, lines);
      samples.push({
        name: `samples/raw/${stream.exchange}/${stream.topic}/${symbolKey(symbol)}.jsonl`,
        text: masker.text(`${head.join('\n')}\n`),
      });
    }
  }
  return samples;
}

/** Days of dt= partitions listed first; a stream silent for longer costs one full listing. */
const RECENT_DAYS = 7;

/** The last key under `prefix`: the recent dt= partitions first, so months of history are not listed. */
async function newestKey(store: ObjectStore, prefix: string, nowMs: number): Promise<string | undefined> {
  let newest: string | undefined;
  const recentStart = datePartitionStart(prefix, isoDate(nowMs - RECENT_DAYS * 86_400_000));
  for (;;) {
    const page = await store.listPage(prefix, { startAfter: newest ?? recentStart });
    newest = page.objects.at(-1)?.key ?? newest;
    if (!page.nextStartAfter) break;
  }
  if (newest) return newest;
  for await (const object of listAll(store, prefix)) newest = object.key;
  return newest;
}

/** The last `lines` lines of logs/runtime.log, masked (the logger masks too; this is the second guard). */
export async function logSample(logsDir: string, lines: number, masker: Masker): Promise<Sample[]> {
  if (lines === 0) return [];
  let handle;
  try {
    handle = await open(path.join(logsDir, LOG_FILE), 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    const tail = buffer.toString('utf8').split('\n').filter(Boolean);
    // The first line of a partial read may be cut; drop it unless the whole file was read.
    if (length < size) tail.shift();
    return [{ name: `samples/logs/${LOG_FILE}`, text: masker.text(`${tail.slice(-lines).join('\n')}\n`) }];
  } finally {
    await handle.close();
  }
}
