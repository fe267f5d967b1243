// runtime/host-guard.ts
// Notices a second runtime under this host name (two PCs with one BTC_TS_HOST) through the writer of the host's status object.

import type { Runtime } from './context.ts';
import { STATUS_WRITER } from './status.ts';
import { statusKey } from './keys.ts';

/** How often the status object's writer is read back (ms): one small GET. */
const CHECK_MS = 5_000;
/** While the duplicate lasts, the error is logged again this often (ms); the audit event is once per other writer. */
const REPEAT_LOG_MS = 60_000;

export const DUPLICATE_HOST_EVENT = 'runtime.host.duplicate';

interface Writer {
  id: string;
  pid?: number;
  runtime?: boolean;
}

export interface HostGuard {
  /** The other runtime writing this host's status, once one was seen. */
  duplicate(): Writer | null;
  stop(): void;
}

/**
 * Marks this runtime's status writes as a runtime's (`writer.runtime`), then reads the object back
 * every CHECK_MS. A status last written by another *runtime* after our own last write means two
 * runtimes share this host name: reported as a log error and a `runtime.host.duplicate` audit
 * event. The mode is left alone on purpose: the lease tells the two apart by pid, so collection
 * stays correct, and stopping it on both PCs would lose data; what breaks is the shared status
 * object and the audit segment names, which the operator fixes by renaming one PC.
 * CLI commands write the status without `runtime: true` and are never taken for a duplicate.
 */
export function watchHostName(runtime: Runtime, options: { checkMs?: number } = {}): HostGuard {
  const key = statusKey(runtime.host);
  let duplicate: Writer | null = null;
  let lastLogged = 0;
  const reported = new Set<string>();
  void runtime.status
    .update(runtime.store, (doc) => void (doc.writer = { ...STATUS_WRITER, runtime: true }))
    .catch((err) => runtime.log.warn({ err: String(err) }, 'status write at start failed'));

  const check = async () => {
    const got = await runtime.store.get(key).catch(() => null);
    if (!got) return;
    const doc = JSON.parse(got.body.toString('utf8')) as { writer?: Writer; updated_at?: string };
    const writer = doc.writer;
    if (!writer?.runtime || writer.id === STATUS_WRITER.id) return;
    // A runtime that ran here before us wrote before our first write; a live one keeps writing after ours.
    const ours = Date.parse(runtime.status.current().updated_at);
    if (!(Date.parse(doc.updated_at ?? '') > ours)) return;
    duplicate = writer;
    const now = Date.now();
    const message =
      `another runtime (pid ${writer.pid ?? '?'}, writer ${writer.id}) writes the status of host "${runtime.host}": ` +
      'two PCs (or two data directories) run with the same BTC_TS_HOST. Give each PC its own BTC_TS_HOST and restart it.';
    if (!reported.has(writer.id)) {
      reported.add(writer.id);
      await runtime.audit.record(DUPLICATE_HOST_EVENT, { host: runtime.host, self: STATUS_WRITER, other: writer });
    }
    if (now - lastLogged >= REPEAT_LOG_MS) {
      lastLogged = now;
      runtime.log.error({ event: DUPLICATE_HOST_EVENT, other: writer, self: STATUS_WRITER }, message);
    }
  };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    void check()
      .catch((err) => runtime.log.warn({ err: String(err) }, 'host name check failed'))
      .finally(() => (running = false));
  }, options.checkMs ?? CHECK_MS);
  timer.unref();
  return { duplicate: () => duplicate, stop: () => clearInterval(timer) };
}
