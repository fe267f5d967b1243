// runtime/handoff/handover.ts
// Reads docs/handover.md: the phase line and the done / remaining / next tasks sections.

export interface Handover {
  phase: string | null;
  done: string[];
  remaining: string[];
  next: string[];
}

type Section = 'done' | 'remaining' | 'next';

/** `## Done`, `## Remaining`, `## Next tasks` (case-insensitive, synonyms allowed). */
const SECTION_HEADINGS: Array<[RegExp, Section]> = [
  [/^(done|completed|finished)\b/i, 'done'],
  [/^(remaining|open|todo|to do|open tasks)\b/i, 'remaining'],
  [/^(next|next tasks|next steps)\b/i, 'next'],
];

/**
 * Parses the handover file. Items are the list entries of each section (`- `, `* `, `1. `,
 * checkboxes stripped); a `Phase: …` line anywhere names the phase.
 */
export function parseHandover(text: string): Handover {
  const handover: Handover = { phase: null, done: [], remaining: [], next: [] };
  let section: Section | null = null;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    // `Phase: x`, `**Phase:** x` and `**Phase: x**` all name the phase.
    const phase = /^\s*\**phase\s*:\s*\**\s*(.+?)\s*\**\s*$/i.exec(line);
    if (phase && handover.phase === null) {
      handover.phase = phase[1]!;
      continue;
    }
    const heading = /^#{1,6}\s+(.+)$/.exec(line);
    if (heading) {
      section = SECTION_HEADINGS.find(([re]) => re.test(heading[1]!.trim()))?.[1] ?? null;
      continue;
    }
    const item = /^\s*(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.+)$/.exec(line);
    if (section && item) handover[section].push(item[1]!.trim());
  }
  return handover;
}
