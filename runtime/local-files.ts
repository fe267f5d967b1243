// runtime/local-files.ts
// This PC's own disk as a duty sees it (log mirrors, the dashboard's local copy): a context capability, absent in a worker.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { writeFileDurable } from './durable.ts';
import { appendRotating } from './log-files.ts';

/**
 * Local files a duty may write besides the store. The Node runtime hands every duty
 * `nodeLocalFiles`; a runtime without a disk (workerd) hands `null`, and the duty keeps only what
 * it writes to the store (which is always the record; these files are convenience copies).
 */
export interface LocalFiles {
  /**
   * Appends `text` to `file` (absolute path), creating the file and its folder. `header` is written
   * first by whichever caller creates the file (O_EXCL), so parallel appenders write it once.
   * `rotate`: the file is a log rotated by size and UTC day (runtime/log-files.ts appendRotating; no header).
   * @throws the fs error (ENOSPC, EACCES, …) unchanged.
   */
  append(file: string, text: string, header?: string, options?: { rotate?: boolean }): Promise<void>;
  /** Replaces `file` durably (durable.ts writeFileDurable: temp file fsynced, renamed, folder fsynced), creating its folder. */
  replace(file: string, body: Buffer | string): Promise<void>;
}

export const nodeLocalFiles: LocalFiles = {
  async append(file, text, header, options) {
    if (options?.rotate) return appendRotating(path.dirname(file), path.basename(file), text);
    await fsp.mkdir(path.dirname(file), { recursive: true });
    if (header !== undefined) {
      await fsp.writeFile(file, header, { flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
    }
    await fsp.appendFile(file, text);
  },
  async replace(file, body) {
    await fsp.mkdir(path.dirname(file), { recursive: true });
    await writeFileDurable(file, body);
  },
};
