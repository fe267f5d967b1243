// runtime/cli/progress.ts
// A one-line progress bar on stderr for long CLI runs; drawn only on a TTY, at most ten times a second.

export interface ProgressState {
  done: number;
  total: number;
  bytesDone: number;
  bytesTotal: number;
  elapsedMs: number;
}

const BAR_WIDTH = 28;
const REDRAW_MS = 100;

/** Returns an update function and a finish function (which ends the line once); both do nothing when stderr is not a terminal. */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): { update(p: ProgressState): void; finish(): void } {
  if (!stream.isTTY) return { update: () => undefined, finish: () => undefined };
  let lastDraw = 0;
  let last: ProgressState | null = null;
  // Ctrl-C ends the line early; the run's late progress and its own finish() must not draw again.
  let finished = false;
  const draw = (p: ProgressState) => {
    const ratio = p.total > 0 ? Math.min(1, p.done / p.total) : 1;
    const filled = Math.round(ratio * BAR_WIDTH);
    const rate = p.elapsedMs > 0 ? Math.round((p.done * 1000) / p.elapsedMs) : 0;
    const mb = (n: number) => (n / 1e6).toFixed(1);
    stream.write(
      `\r${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${String(Math.round(ratio * 100)).padStart(3)}% ` +
        `${p.done}/${p.total} items ${mb(p.bytesDone)}/${mb(p.bytesTotal)} MB ${rate} obj/s\x1b[K`,
    );
  };
  return {
    update(p) {
      if (finished) return;
      last = p;
      const now = Date.now();
      if (now - lastDraw >= REDRAW_MS || p.done === p.total) {
        lastDraw = now;
        draw(p);
      }
    },
    finish() {
      if (finished) return;
      finished = true;
      if (last) draw(last);
      stream.write('\n');
    },
  };
}
