// runtime/status.ts
// This host's status object (collector/status/<host>.json): one in-memory copy, written atomically on change.

import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Mode } from '../config/schema.ts';
import type { Clock } from './clock.ts';
import type { Logger } from './logger.ts';
import type { Masker } from './secrets.ts';
import { listAll, type ObjectStore } from './store/types.ts';
import { STATUS_PREFIX, statusKey } from './keys.ts';

export const streamStatusSchema = z.object({
  exchange: z.string(),
  topic: z.string(),
  symbol: z.string(),
  ok: z.boolean(),
  cause: z.string().nullable(),
  retries: z.number(),
  last_ok_ms: z.number().nullable(),
  notes: z.array(z.string()),
  /** Records collected since 00:00 UTC (the dashboard shows it when the collector reports it). */
  records_today: z.number().optional(),
  /** While the stream's exchange is paused after a 429/418/403: when the pause ends (ISO). */
  paused_until: z.string().optional(),
  /** `transport: ws` streams: connection, rate and lag figures (runtime/collector/ws/stats.ts, docs/collector.md). */
  ws: z
    .looseObject({
      connected: z.boolean(),
      connected_since: z.string().nullable(),
      reconnects: z.number(),
      messages_per_s: z.number(),
      resyncs: z.number(),
      lag_p50_ms: z.number().nullable(),
      lag_p99_ms: z.number().nullable(),
    })
    .optional(),
});
export type StreamStatus = z.infer<typeof streamStatusSchema>;

export const hostStatusSchema = z.looseObject({
  host: z.string(),
  mode: z.string(),
  updated_at: z.string(),
  leader: z.looseObject({ host: z.string().nullable(), since: z.string().nullable(), active: z.boolean(), epoch: z.number().optional() }),
  storage: z.looseObject({
    primary: z.enum(['up', 'down']),
    secondary: z.enum(['used', 'idle']),
    secondary_path: z.string(),
    /** Why the primary is down: `network`, or the S3 error code of a refusal (`AccessDenied`, `SignatureDoesNotMatch`, …). */
    cause: z.string().nullable().optional(),
  }),
  sync: z.looseObject({
    pending: z.boolean(),
    last: z.object({ at: z.string(), items: z.number(), bytes: z.number(), ok: z.boolean() }).nullable(),
  }),
  streams: z.array(streamStatusSchema),
  /** How often (s) the host rewrites this object while it runs; readers judge staleness by it. */
  period_s: z.number().positive().optional(),
  /** Set by a clean shutdown: the host is not running (its rows are its last state, not live). */
  stopped_at: z.string().optional(),
  /** This PC's clock − the primary's (ms, positive: ahead), from the S3 `Date` headers; null before it answered or on a local primary. */
  clock_skew_ms: z.number().nullable().optional(),
  /** Free bytes of the data directory's file system at the last write; null when it could not be read. */
  disk_free_bytes: z.number().nullable().optional(),
  /** Open alert incidents of this host (runtime/alerts/incidents.ts), for `runtime alerts` and the page. */
  alerts: z
    .array(z.looseObject({ key: z.string(), rule: z.string(), summary: z.string(), since: z.string(), opened_at: z.string(), last_sent_at: z.string().optional(), undelivered: z.boolean().optional() }))
    .optional(),
});
export type HostStatus = z.infer<typeof hostStatusSchema>;

/** A host whose status is older than this many of its periods is "stale" (killed, hung or cut off). */
export const STALE_AFTER_PERIODS = 3;
/** Period assumed for objects written before `period_s` existed (the probe's default × 6). */
const DEFAULT_PERIOD_S = 30;

export interface HostLiveness {
  /** `running`: updated recently; `stopped`: shut down cleanly; `stale`: not updated for > STALE_AFTER_PERIODS periods. */
  state: 'running' | 'stopped' | 'stale';
  /** now − updated_at in ms (negative when the writer's clock is ahead); null when updated_at does not parse. */
  ageMs: number | null;
}

/** Whether a host's status is live, from its own `stopped_at`, `updated_at` and `period_s` against `now` (ms). */
export function hostLiveness(status: Pick<HostStatus, 'updated_at' | 'period_s' | 'stopped_at'>, now: number): HostLiveness {
  const updated = Date.parse(status.updated_at);
  const ageMs = Number.isFinite(updated) ? now - updated : null;
  if (status.stopped_at) return { state: 'stopped', ageMs };
  const staleAfterMs = STALE_AFTER_PERIODS * (status.period_s ?? DEFAULT_PERIOD_S) * 1000;
  return { state: ageMs === null || ageMs > staleAfterMs ? 'stale' : 'running', ageMs };
}
/** Marks this process's writes (`writer` in the object): another writer under the same host name is a duplicate host (runtime/host-guard.ts). */
let writerId: string | undefined;
/** The id is drawn on first use, not at load: workerd forbids random values in a module's global scope. */
export const STATUS_WRITER = {
  get id(): string {
    return (writerId ??= randomBytes(6).toString('hex'));
  },
  pid: process.pid,
};

export interface StatusWriterOptions {
  host: string;
  mode: Mode;
  secondaryPath: string;
  clock: Clock;
  masker: Masker;
  log: Logger;
  /** How often (s) the running host rewrites its status (the storage probe's period); written as `period_s`. */
  periodSeconds: number;
  /**
   * false: keep the object in memory only. CLI commands build a runtime too, but the status
   * object belongs to the runtime serving this host; a command must not overwrite its row.
   */
  persist: boolean;
  /** The current clock skew against the primary (ms), stamped on every write as `clock_skew_ms`. */
  clockSkewMs?: () => number | null;
  /** The data directory's free bytes (DiskMonitor.last), stamped on every write as `disk_free_bytes`. */
  diskFreeBytes?: () => number | null;
}

export class StatusWriter {
  private doc: HostStatus;
  private readonly options: StatusWriterOptions;
  private writing: Promise<void> = Promise.resolve();

  constructor(options: StatusWriterOptions) {
    this.options = options;
    this.doc = {
      host: options.host,
      mode: options.mode,
      updated_at: new Date(options.clock.now()).toISOString(),
      leader: { host: null, since: null, active: false },
      storage: { primary: 'up', secondary: 'idle', secondary_path: options.secondaryPath },
      sync: { pending: false, last: null },
      streams: [],
      period_s: options.periodSeconds,
      writer: { ...STATUS_WRITER },
    };
  }

  current(): HostStatus {
    return structuredClone(this.doc);
  }

  /** Applies a change and writes the whole object atomically; writes are serialised in order. */
  update(store: ObjectStore, change: (doc: HostStatus) => void): Promise<void> {
    // After a clean stop nothing may make the host look alive again (a late hook, a last probe).
    if (this.doc.stopped_at) return Promise.resolve();
    change(this.doc);
    if (this.options.clockSkewMs) this.doc.clock_skew_ms = this.options.clockSkewMs();
    if (this.options.diskFreeBytes) this.doc.disk_free_bytes = this.options.diskFreeBytes();
    this.doc.updated_at = new Date(this.options.clock.now()).toISOString();
    if (!this.options.persist) return Promise.resolve();
    const snapshot = this.options.masker.value(this.doc);
    const write = this.writing.then(() =>
      store.put(statusKey(this.options.host), JSON.stringify(snapshot, null, 2), { contentType: 'application/json' }).then(() => undefined),
    );
    this.writing = write.catch((err) => this.options.log.warn({ err: String(err) }, 'status write failed'));
    return write;
  }

  /** Writes `stopped_at` on a clean shutdown; later updates are ignored. Resolves once it is written. */
  async markStopped(store: ObjectStore): Promise<void> {
    await this.update(store, (doc) => void (doc.stopped_at = new Date(this.options.clock.now()).toISOString()));
  }
}

/** Status objects of every host found in the store, sorted by host. Unparseable ones are reported, not thrown. */
export async function readAllStatus(store: ObjectStore): Promise<{ hosts: HostStatus[]; errors: Array<{ key: string; error: string }> }> {
  const hosts: HostStatus[] = [];
  const errors: Array<{ key: string; error: string }> = [];
  for await (const info of listAll(store, STATUS_PREFIX)) {
    if (!info.key.endsWith('.json')) continue;
    try {
      const got = await store.get(info.key);
      hosts.push(hostStatusSchema.parse(JSON.parse(got.body.toString('utf8'))));
    } catch (err) {
      errors.push({ key: info.key, error: err instanceof Error ? err.message.slice(0, 200) : String(err) });
    }
  }
  hosts.sort((a, b) => a.host.localeCompare(b.host));
  return { hosts, errors };
}
