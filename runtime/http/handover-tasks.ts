// runtime/http/handover-tasks.ts
// The dashboard's ToDo card: next tasks from the latest handoff bundle's handover.md, else the operator's handover file.

import { EventEmitter } from 'node:events';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { orAfter } from '../async.ts';
import { openZip } from '../handoff/unzip.ts';
import type { UnzipLimits } from '../handoff/zip-limits.ts';
import { listAll, type ObjectStore } from '../store/types.ts';
import { shorten } from './format.ts';
import { HANDOFF_PREFIX } from '../keys.ts';

/** A bundle bigger than this is not downloaded just to show a ToDo list. */
const MAX_BUNDLE_BYTES = 64 << 20;
/** The card reads one small entry: handover.md over 1 MiB, or a bundle expanding past that, is refused. */
const CARD_UNZIP_LIMITS: UnzipLimits = { maxEntries: 20_000, maxEntryBytes: 1 << 20, maxTotalBytes: 1 << 20, maxRatio: 100 };
/** The next-tasks section sits near the top; text past this is not split or scanned. */
const MAX_PARSED_CHARS = 256 * 1024;
/** load() waits this long for a fresh read, then answers with the last result and lets the read finish. */
const PROMPT_MS = 200;
const MAX_TASKS = 30;
const MAX_TASK_CHARS = 300;

export interface NextTask {
  text: string;
  done: boolean;
}

export interface NextTasks {
  /** Where the list came from: an object key or a file path. */
  source: string | null;
  tasks: NextTask[];
  /** Why the list may be incomplete (unreadable bundle, no "Next" heading, …). */
  note?: string;
}

/** Headings that start the next-tasks section ("## Next", "## Next tasks", "## ToDo", "## 次にやること"). */
const NEXT_HEADING = /\b(next|todo|to do|to-do)\b|次/i;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;
const BULLET = /^\s*(?:[-*+]|\d+[.)])\s+(.*)$/;
const CHECKBOX = /^\[([ xX])\]\s*/;

/**
 * Bullet lines under the first "next" heading, up to the next heading of the same or a higher
 * level. Anything odd (no heading, prose, nested bullets) is tolerated: the card shows what it found.
 */
export function parseNextTasks(markdown: string): NextTask[] | null {
  const lines = markdown.slice(0, MAX_PARSED_CHARS).replace(/\r\n?/g, '\n').split('\n');
  let level = 0;
  const tasks: NextTask[] = [];
  for (const line of lines) {
    const heading = HEADING.exec(line);
    if (heading) {
      const depth = heading[1]!.length;
      if (level > 0 && depth <= level) break;
      if (level === 0 && NEXT_HEADING.test(heading[2]!)) level = depth;
      continue;
    }
    if (level === 0) continue;
    const bullet = BULLET.exec(line);
    if (!bullet) continue;
    let text = bullet[1]!.trim();
    const box = CHECKBOX.exec(text);
    if (box) text = text.slice(box[0].length);
    if (text === '') continue;
    tasks.push({ text: shorten(text, MAX_TASK_CHARS), done: box ? box[1] !== ' ' : false });
    if (tasks.length >= MAX_TASKS) break;
  }
  return level === 0 ? null : tasks;
}

/**
 * Reads next tasks off the request path: load() answers within PROMPT_MS with the freshest result
 * it has (or a "loading" note) while one background refresh runs; a bundle's outcome is cached per
 * key + ETag, so a page refresh neither downloads nor inflates it again. Emits 'refreshed' with
 * the new NextTasks after each refresh.
 */
export class NextTasksSource extends EventEmitter<{ refreshed: [NextTasks] }> {
  private cached: { key: string; etag: string; result: NextTasks | Error } | null = null;
  private last: NextTasks | null = null;
  private refreshing: Promise<NextTasks> | null = null;
  private readonly store: ObjectStore;
  private readonly handoverFile: string;

  /**
   * `handoverFile`: the operator's handover (`handoff.handoverFile` under `handoff.repoDir`), read
   * when no bundle is in the store. Never this project's own docs: operators must not see its roadmap as their ToDo.
   */
  constructor(store: ObjectStore, handoverFile: string) {
    super();
    this.store = store;
    this.handoverFile = handoverFile;
  }

  async load(): Promise<NextTasks> {
    const refresh = this.refresh();
    return (await orAfter(refresh, PROMPT_MS, null)) ?? this.last ?? { source: null, tasks: [], note: 'loading the handover tasks…' };
  }

  /** Starts a refresh unless one is running; resolves with its result, never rejects. */
  refresh(): Promise<NextTasks> {
    this.refreshing ??= this.read()
      .catch((err: unknown): NextTasks => ({ source: null, tasks: [], note: `handover tasks unreadable: ${err instanceof Error ? err.message : String(err)}` }))
      .then((result) => {
        this.last = result;
        this.refreshing = null;
        this.emit('refreshed', result);
        return result;
      });
    return this.refreshing;
  }

  private async read(): Promise<NextTasks> {
    let bundleNote: string | undefined;
    try {
      const fromBundle = await this.fromLatestBundle();
      if (fromBundle) return fromBundle;
    } catch (err) {
      bundleNote = `latest handoff bundle unreadable: ${err instanceof Error ? err.message : String(err)}`;
    }
    const fromRepo = await this.fromHandoverFile();
    return bundleNote ? { ...fromRepo, note: [bundleNote, fromRepo.note].filter(Boolean).join('; ') } : fromRepo;
  }

  private async fromLatestBundle(): Promise<NextTasks | null> {
    let latest: { key: string; etag: string; size: number } | null = null;
    for await (const info of listAll(this.store, HANDOFF_PREFIX)) {
      // Handoff_YYYYMMDD_HHMM.zip sorts by time, so the greatest key is the newest bundle.
      if (info.key.endsWith('.zip') && (!latest || info.key > latest.key)) latest = info;
    }
    if (!latest) return null;
    if (!this.cached || this.cached.key !== latest.key || this.cached.etag !== latest.etag) {
      // A refused bundle is remembered too: a zip bomb is inflated (up to the cap) once, not on every page view.
      const result = await this.readBundle(latest).catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
      this.cached = { key: latest.key, etag: latest.etag, result };
    }
    if (this.cached.result instanceof Error) throw this.cached.result;
    return this.cached.result;
  }

  private async readBundle(latest: { key: string; size: number }): Promise<NextTasks> {
    if (latest.size > MAX_BUNDLE_BYTES) return { source: latest.key, tasks: [], note: `bundle is ${latest.size} bytes; not opened` };
    const zip = await openZip((await this.store.get(latest.key)).body, CARD_UNZIP_LIMITS, latest.key);
    const entry = zip.entries
      .filter((f) => !f.dir && path.posix.basename(f.name) === 'handover.md')
      .sort((a, b) => a.name.length - b.name.length)[0];
    if (!entry) return { source: latest.key, tasks: [], note: 'bundle has no handover.md' };
    return withNote({ source: `${latest.key}!${entry.name}` }, parseNextTasks((await zip.read(entry.name)).toString('utf8')));
  }

  private async fromHandoverFile(): Promise<NextTasks> {
    try {
      return withNote({ source: this.handoverFile }, parseNextTasks(await readFile(this.handoverFile, 'utf8')));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        source: null,
        tasks: [],
        note:
          code === 'ENOENT'
            ? `no handoff bundle in the store and no handover file at ${this.handoverFile} (handoff.handoverFile under handoff.repoDir)`
            : `${this.handoverFile} unreadable: ${code ?? err}`,
      };
    }
  }
}

function withNote(base: { source: string }, tasks: NextTask[] | null): NextTasks {
  return tasks === null ? { ...base, tasks: [], note: 'no "## Next" heading found' } : { ...base, tasks };
}
