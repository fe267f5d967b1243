// test/audit-events.test.ts
// The audit event table (runtime/audit-events.ts) against docs/audit-events.md and CONTRACT's list kept there; misspelt events and payloads fail to compile.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AUDIT_EVENT_NAMES } from '../runtime/audit-events.ts';
import type { AuditTrail } from '../runtime/define.ts';

const doc = readFileSync(new URL('../docs/audit-events.md', import.meta.url), 'utf8');

/** The backticked names of one `## ` section of the page. */
function section(title: string): string {
  const start = doc.indexOf(`## ${title}\n`);
  expect(start, `section "${title}" in docs/audit-events.md`).toBeGreaterThanOrEqual(0);
  const next = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, next < 0 ? undefined : next);
}

const contractNames = [...section("CONTRACT's list").matchAll(/`([a-z_]+(?:\.[a-z_]+)+)`/g)].map((m) => m[1]!);
const documented = [...section('Every event').matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);

describe('audit events', () => {
  it("has every event of CONTRACT's list in the table", () => {
    expect(contractNames).toHaveLength(26);
    expect(new Set(contractNames).size).toBe(contractNames.length);
    expect(contractNames.filter((name) => !AUDIT_EVENT_NAMES.includes(name as never))).toEqual([]);
  });

  it('documents every event of the table, and only those, once each', () => {
    expect(new Set(documented).size).toBe(documented.length);
    expect([...documented].sort()).toEqual([...AUDIT_EVENT_NAMES]);
  });
});

/** Never called: `npx tsc --noEmit` fails if any of these stops being a type error. */
export async function typeChecks(audit: AuditTrail): Promise<void> {
  await audit.record('runtime.mode.change', { from: 'PROD', to: 'DIAG', reason: 'a typed call compiles' });
  // @ts-expect-error a misspelt event name
  await audit.record('runtime.mode.chnage', { from: 'PROD', to: 'DIAG', reason: 'x' });
  // @ts-expect-error a payload missing a field
  await audit.record('runtime.mode.change', { from: 'PROD', to: 'DIAG' });
  // @ts-expect-error a misspelt payload field
  await audit.record('runtime.mode.change', { from: 'PROD', to: 'DIAG', reasn: 'x' });
  // @ts-expect-error a field of the wrong type
  await audit.record('collector.sync.chunk', { items: '1', bytes: 1, elapsed_ms: 1, total_items: 1 });
}
