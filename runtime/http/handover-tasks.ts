// runtime/http/handover-tasks.ts
// The dashboard's ToDo card: next tasks from the latest handoff bundle's handover.md, else docs/handover.md.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import JSZip from 'jszip';
import { listAll, type ObjectStore } from '../store/types.ts';
import { shorten } from './format.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const HANDOFF_PREFIX = 'handoff/';
export const REPO_HANDOVER = path.join(ROOT, 'docs/handover.md');
/** A bundle bigger than this is not downloaded just to show a ToDo list. */
const MAX_BUNDLE_BYTES = 64 << 20;
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
  const lines = markdown.replace(/\r\n?/g, '\n').split('\n');
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

/** Reads next tasks, remembering the last bundle read so a refresh does not download it again. */
export class NextTasksSource {
  private cached: { key: string; etag: string; result: NextTasks } | null = null;
  private readonly store: ObjectStore;
  private readonly repoHandover: string;

  constructor(store: ObjectStore, repoHandover = REPO_HANDOVER) {
    this.store = store;
    this.repoHandover = repoHandover;
  }

  async load(): Promise<NextTasks> {
    let bundleNote: string | undefined;
    try {
      const fromBundle = await this.fromLatestBundle();
      if (fromBundle) return fromBundle;
    } catch (err) {
      bundleNote = `latest handoff bundle unreadable: ${err instanceof Error ? err.message : String(err)}`;
    }
    const fromRepo = await this.fromRepo();
    return bundleNote ? { ...fromRepo, note: [bundleNote, fromRepo.note].filter(Boolean).join('; ') } : fromRepo;
  }

  private async fromLatestBundle(): Promise<NextTasks | null> {
    let latest: { key: string; etag: string; size: number } | null = null;
    for await (const info of listAll(this.store, HANDOFF_PREFIX)) {
      // Handoff_YYYYMMDD_HHMM.zip sorts by time, so the greatest key is the newest bundle.
      if (info.key.endsWith('.zip') && (!latest || info.key > latest.key)) latest = info;
    }
    if (!latest) return null;
    if (this.cached && this.cached.key === latest.key && this.cached.etag === latest.etag) return this.cached.result;
    if (latest.size > MAX_BUNDLE_BYTES) return { source: latest.key, tasks: [], note: `bundle is ${latest.size} bytes; not opened` };
    const zip = await JSZip.loadAsync((await this.store.get(latest.key)).body);
    const entry = Object.values(zip.files)
      .filter((f) => !f.dir && path.posix.basename(f.name) === 'handover.md')
      .sort((a, b) => a.name.length - b.name.length)[0];
    const result: NextTasks = entry
      ? withNote({ source: `${latest.key}!${entry.name}` }, parseNextTasks(await entry.async('string')))
      : { source: latest.key, tasks: [], note: 'bundle has no handover.md' };
    this.cached = { key: latest.key, etag: latest.etag, result };
    return result;
  }

  private async fromRepo(): Promise<NextTasks> {
    try {
      return withNote({ source: path.relative(ROOT, this.repoHandover) || this.repoHandover }, parseNextTasks(await readFile(this.repoHandover, 'utf8')));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { source: null, tasks: [], note: code === 'ENOENT' ? 'no handoff bundle and no docs/handover.md yet' : `docs/handover.md unreadable: ${code ?? err}` };
    }
  }
}

function withNote(base: { source: string }, tasks: NextTask[] | null): NextTasks {
  return tasks === null ? { ...base, tasks: [], note: 'no "## Next" heading found' } : { ...base, tasks };
}
