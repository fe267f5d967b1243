// runtime/cli/output.ts
// Terminal output helpers: aligned tables, JSON printing (and --json-out files), colour only on a TTY, control sequences stripped from foreign text.

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const useColor = () => process.stdout.isTTY && !process.env.NO_COLOR;

export const color = {
  green: (s: string) => (useColor() ? `\x1b[32m${s}\x1b[0m` : s),
  red: (s: string) => (useColor() ? `\x1b[31m${s}\x1b[0m` : s),
  yellow: (s: string) => (useColor() ? `\x1b[33m${s}\x1b[0m` : s),
  dim: (s: string) => (useColor() ? `\x1b[2m${s}\x1b[0m` : s),
};

/** Prints rows as an aligned table with a header. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => stripAnsi(r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - stripAnsi(c).length))).join('  ').trimEnd();
  console.log(line(header));
  console.log(line(widths.map((w) => '─'.repeat(w))));
  for (const r of rows) console.log(line(r));
}

/**
 * Terminal control in text that came from elsewhere (a bundle, a peer's status, a zip entry name):
 * ESC sequences — CSI (cursor movement, colours), OSC up to BEL or ST (window title, OSC 52
 * clipboard, hyperlinks), DCS / SOS / PM / APC strings, two-byte ESC x, their 8-bit C1 forms (CSI
 * 0x9b, OSC 0x9d) — then any other C0 / C1 control and DEL. Tab and newline stay.
 */
// eslint-disable-next-line no-control-regex
const TERMINAL_CONTROL = /\x1b\[[0-?]*[ -/]*[@-~]?|\x1b\][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|\x1b[PX^_][^\x1b\x9c]*(?:\x1b\\|\x9c)?|\x1b[ -~]?|\x9b[0-?]*[ -/]*[@-~]?|\x9d[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?|[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** `text` safe to print: every terminal control sequence removed (see TERMINAL_CONTROL). */
export function plain(text: string): string {
  return text.replace(TERMINAL_CONTROL, '');
}

/**
 * Pretty JSON. JSON.stringify escapes C0 controls (ESC included) but not DEL and the C1 range,
 * which some terminals obey as 8-bit CSI / OSC; those are escaped too (still valid JSON).
 */
export function printJson(value: unknown): void {
  // eslint-disable-next-line no-control-regex
  const text = JSON.stringify(value, null, 2).replace(/[\x7f-\x9f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  process.stdout.write(text + '\n');
}

/** `--json-out FILE`: `value` as pretty JSON in `file` (its folder made when missing); nothing when `file` is not a string. */
export function writeJsonOut(file: unknown, value: unknown): void {
  if (typeof file !== 'string') return;
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '');
}
