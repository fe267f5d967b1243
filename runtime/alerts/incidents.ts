// runtime/alerts/incidents.ts
// Open incidents of this host: fire once, repeat while it lasts, resolve once; kept on local disk and in the status object.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { AlertDeliveryFields } from '../audit-events.ts';
import type { FnContext } from '../define.ts';
import { defineSlot } from '../local-slots.ts';
import { deliver, type AlertMessage, type Delivery, type MessageKind } from './deliver.ts';
import { RULE_NAMES, RULES, type Condition, type RuleName } from './rules.ts';

export const incidentSchema = z.object({
  key: z.string(),
  rule: z.string(),
  host: z.string(),
  summary: z.string(),
  /** ISO: the condition began (or its first event). */
  since: z.string(),
  /** ISO: the incident fired. */
  opened_at: z.string(),
  /** ISO: the last message sent for it (fire or repeat). */
  last_sent_at: z.string(),
  /** Messages sent for it: the fire and every repeat. */
  sends: z.number().int(),
  /** No webhook took the last message: it is sent again at the next check. */
  undelivered: z.boolean(),
  details: z.record(z.string(), z.unknown()),
});
export type Incident = z.infer<typeof incidentSchema>;
const fileSchema = z.object({ host: z.string(), incidents: z.array(incidentSchema) });

/** <dataDir>/alerts/incidents.json: this host's open incidents, on local disk (it must work with the NAS down). */
export const incidentsFile = (dataDir: string) => path.join(dataDir, 'alerts', 'incidents.json');

/** Reads the local incidents file; missing → none. A broken file is reported, not thrown. */
export async function readIncidents(dataDir: string): Promise<{ incidents: Incident[]; error?: string }> {
  let text: string;
  try {
    text = await fsp.readFile(incidentsFile(dataDir), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { incidents: [] };
    return { incidents: [], error: String(err) };
  }
  const parsed = fileSchema.safeParse(JSON.parse(text));
  return parsed.success ? { incidents: parsed.data.incidents } : { incidents: [], error: `unreadable ${incidentsFile(dataDir)}: ${parsed.error.message.slice(0, 200)}` };
}

async function writeIncidents(dataDir: string, host: string, incidents: Incident[]): Promise<void> {
  const file = incidentsFile(dataDir);
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, JSON.stringify({ host, incidents }, null, 2));
  await fsp.rename(tmp, file);
}

export interface CheckResult {
  open: number;
  fired: string[];
  resolved: string[];
  repeated: string[];
  /** Rules this host evaluated this time (the others are off, or cluster rules on a non-holder). */
  evaluated: RuleName[];
}

/** This host's open incidents by key: loaded and written by the alert check (loadBook, on first use from <dataDir>/alerts/incidents.json), read by openIncidents (the page). */
export const INCIDENTS_SLOT = defineSlot<Map<string, Incident>>('alerts:incidents');

/**
 * One check: opens an incident (and sends `fire`, audits `alert.fire`) for every condition without
 * one, sends `repeat` for those older than alerts.repeatSeconds since their last message, and
 * resolves (sends `resolve`, audits `alert.resolve`) those whose rule was evaluated and no longer
 * holds, whose rule is off, or (cluster rules) on a host that is no longer the lease holder.
 */
export async function applyConditions(ctx: FnContext, conditions: Condition[], evaluated: Set<RuleName>): Promise<CheckResult> {
  const book = await loadBook(ctx);
  const now = ctx.clock.now();
  const iso = (ms: number) => new Date(ms).toISOString();
  const cfg = ctx.config.alerts;
  const result: CheckResult = { open: 0, fired: [], resolved: [], repeated: [], evaluated: [...evaluated] };
  const holding = new Map(conditions.map((c) => [c.key, c]));

  for (const incident of [...book.values()]) {
    if (holding.has(incident.key)) continue;
    const rule = RULES.find((r) => r.name === incident.rule);
    const enabled = rule ? cfg.rules[rule.config].enabled : false;
    let why: string | null = null;
    if (!enabled) why = 'rule off';
    else if (evaluated.has(incident.rule as RuleName)) why = 'condition cleared';
    else if (rule?.scope === 'cluster' && !ctx.lease.holder) why = 'no longer the lease holder (the holder evaluates this rule)';
    if (why === null) continue;
    book.delete(incident.key);
    const delivery = await send(ctx, 'resolve', { ...incident, summary: `${incident.summary} — resolved: ${why}` }, now);
    await ctx.audit.record('alert.resolve', { rule: incident.rule, key: incident.key, why, since: incident.since, opened_at: incident.opened_at, lasted_ms: now - Date.parse(incident.opened_at), ...deliveryAudit(delivery) });
    ctx.log.info({ rule: incident.rule, key: incident.key, why }, `alert resolved: ${incident.key}`);
    result.resolved.push(incident.key);
  }

  for (const c of conditions) {
    const open = book.get(c.key);
    if (!open) {
      const incident: Incident = { key: c.key, rule: c.rule, host: ctx.host, summary: ctx.masker.text(c.summary), since: iso(c.since), opened_at: iso(now), last_sent_at: iso(now), sends: 1, undelivered: false, details: ctx.masker.value(c.details) as Record<string, unknown> };
      book.set(c.key, incident);
      const delivery = await send(ctx, 'fire', incident, now);
      incident.undelivered = delivery.status === 'failed';
      await ctx.audit.record('alert.fire', { rule: c.rule, key: c.key, summary: incident.summary, since: incident.since, details: incident.details, ...deliveryAudit(delivery) });
      ctx.log.warn({ rule: c.rule, key: c.key }, `alert: ${incident.summary}`);
      result.fired.push(c.key);
      continue;
    }
    open.summary = ctx.masker.text(c.summary);
    open.details = ctx.masker.value(c.details) as Record<string, unknown>;
    const due = cfg.repeatSeconds > 0 && now - Date.parse(open.last_sent_at) >= cfg.repeatSeconds * 1000;
    if (open.undelivered || due) {
      const delivery = await send(ctx, open.undelivered ? 'fire' : 'repeat', open, now);
      open.undelivered = delivery.status === 'failed';
      open.last_sent_at = iso(now);
      open.sends++;
      result.repeated.push(c.key);
    }
  }

  result.open = book.size;
  await saveBook(ctx, book);
  return result;
}

function deliveryAudit(d: Delivery): AlertDeliveryFields {
  return { delivery: d.status, targets: d.targets, ...(d.results.length ? { results: d.results.map((r) => ({ url: r.url, ok: r.ok, http_status: r.http_status, attempts: r.attempts, latency_ms: r.latency_ms })) } : {}) };
}

async function send(ctx: FnContext, kind: MessageKind, incident: Incident, now: number): Promise<Delivery> {
  const cfg = ctx.config.alerts;
  const message: AlertMessage = {
    kind,
    rule: incident.rule,
    key: incident.key,
    host: ctx.host,
    site: ctx.config.site,
    summary: incident.summary,
    since: incident.since,
    at: new Date(now).toISOString(),
    details: incident.details,
  };
  return deliver({ urls: cfg.webhookUrls, formats: cfg.formats, timeoutMs: cfg.timeoutMs, retryDelayMs: cfg.retryDelayMs, logsDir: ctx.paths.logsDir, files: ctx.files, now: () => ctx.clock.now() }, message);
}

/** This host's open incidents (read from <dataDir>/alerts/incidents.json at the first call of a process). */
export async function openIncidents(ctx: FnContext): Promise<Incident[]> {
  return [...(await loadBook(ctx)).values()];
}

async function loadBook(ctx: FnContext): Promise<Map<string, Incident>> {
  let book = ctx.local.get(INCIDENTS_SLOT);
  if (book) return book;
  // First check of this process: the incidents a previous run left open are still open (no second fire).
  const { incidents, error } = await readIncidents(ctx.paths.dataDir);
  if (error) ctx.log.warn({ err: error }, 'alert incidents file unreadable; starting with none open');
  book = new Map(incidents.filter((i) => i.host === ctx.host).map((i) => [i.key, i]));
  ctx.local.set(INCIDENTS_SLOT, book);
  return book;
}

async function saveBook(ctx: FnContext, book: Map<string, Incident>): Promise<void> {
  const incidents = [...book.values()].sort((a, b) => a.opened_at.localeCompare(b.opened_at));
  await writeIncidents(ctx.paths.dataDir, ctx.host, incidents);
  const counts = Object.fromEntries(RULE_NAMES.map((r) => [r, incidents.filter((i) => i.rule === r).length]));
  ctx.metrics?.setOpenAlerts(counts);
  // The status object carries them to `runtime alerts` and the page of every PC.
  const shown = incidents.map((i) => ({ key: i.key, rule: i.rule, summary: i.summary, since: i.since, opened_at: i.opened_at, last_sent_at: i.last_sent_at, undelivered: i.undelivered }));
  const before = JSON.stringify(ctx.status.current().alerts ?? []);
  if (before !== JSON.stringify(shown)) await ctx.status.update((doc) => void (doc.alerts = shown)).catch((err) => ctx.log.warn({ err: String(err) }, 'status update with open alerts failed'));
}

/** A test message to every webhook (`runtime alerts test`). */
export async function sendTest(ctx: FnContext): Promise<Delivery> {
  const now = ctx.clock.now();
  const incident: Incident = {
    key: 'test',
    rule: 'test',
    host: ctx.host,
    summary: 'test message from `runtime alerts test`: this webhook receives btc-ts alerts',
    since: new Date(now).toISOString(),
    opened_at: new Date(now).toISOString(),
    last_sent_at: new Date(now).toISOString(),
    sends: 0,
    undelivered: false,
    details: {},
  };
  const delivery = await send(ctx, 'test', incident, now);
  await ctx.audit.record('alert.test', deliveryAudit(delivery));
  return delivery;
}
