// test/helpers/audit-any.ts
// Records an event outside the typed table (runtime/audit-events.ts): test events, or shapes other hosts and older versions wrote.

import type { AuditTrail } from '../../runtime/define.ts';

/** `audit.record` without the table's check; the event is written exactly as given. */
export function recordAny(audit: Pick<AuditTrail, 'record'>, event: string, payload: Record<string, unknown> = {}): Promise<void> {
  return (audit.record as (event: string, payload: Record<string, unknown>) => Promise<void>).call(audit, event, payload);
}
