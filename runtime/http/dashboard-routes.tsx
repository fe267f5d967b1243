// runtime/http/dashboard-routes.tsx
// Routes of the dashboard: GET /, GET /ui/partials/main, POST /ui/sync/retry, POST /ui/handoff.

import type { Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { orAfter } from '../async.ts';
import type { Runtime } from '../context.ts';
import { BtcError, httpStatusOf, publicMessage, toBtcError } from '../errors.ts';
import { isBinaryResult } from './app.ts';
import type { DashboardData } from './dashboard-data.ts';
import { SYNC_RETRY_SLOT, type SyncRetryOutcome } from './dashboard-model.ts';
import { DashboardMain, DashboardPage } from './dashboard-view.tsx';
import { measureBacklog, type Backlog } from '../store/backlog.ts';
import { bytes } from './format.ts';
import { Layout } from './layout.tsx';
import { SIGN_IN_PATH, type UiAuth } from './ui-auth.ts';

/** The button answers within this; a longer sync keeps running and the page shows its result. */
const RETRY_ANSWER_WITHIN_MS = 2_000;
/** The sign-in form holds a token and a path. */
const SIGN_IN_BODY_BYTES = 4096;

export function mountDashboard(app: Hono, runtime: Runtime, auth: UiAuth, data: DashboardData): void {
  // The sign-in form posts here (never a token in a URL: it would stay in history and proxy logs).
  app.post(SIGN_IN_PATH, bodyLimit({ maxSize: SIGN_IN_BODY_BYTES }), (c) => auth.signIn(c));

  app.get('/', auth.guard, async (c) => {
    c.header('cache-control', 'no-store');
    return c.html(<DashboardPage model={await data.model()} />);
  });

  app.get('/ui/partials/main', auth.guard, async (c) => {
    c.header('cache-control', 'no-store');
    return c.html(<DashboardMain model={await data.model()} />);
  });

  app.post('/ui/sync/retry', auth.guard, async (c) => {
    const { outcome, status } = await retrySync(runtime);
    // The form without JS gets the page back (the outcome is on the Sync card); fetch gets JSON.
    if (!wantsJson(c)) return c.redirect('/#sync', 303);
    return c.json({ ok: outcome.ok || outcome.running, running: outcome.running, message: outcome.message }, status);
  });

  app.post('/ui/handoff', auth.guard, async (c) => {
    if (!runtime.invoker.has('handoff')) {
      throw new BtcError('UnknownFunction', 'the handoff function is not installed on this runtime yet (functions/handoff.ts)');
    }
    const result = await runtime.invoker.invoke('handoff', {}, 'http');
    if (!isBinaryResult(result)) return c.json({ ok: true, result });
    c.header('content-type', result.contentType);
    c.header('content-disposition', `attachment; filename="${result.filename ?? 'handoff.zip'}"`);
    return c.body(new Uint8Array(result.bytes));
  });
}

/** The sign-in form shown to a browser without a session when BTC_TS_API_TOKEN is set. */
export function signInPage(c: Context, wrongToken: boolean, next: string) {
  return c.html(
    <Layout title="btc-ts · sign in">
      <main>
        <section class="card">
          <h2>This runtime needs its API token</h2>
          {wrongToken ? (
            <p role="alert" class="badge bad">
              Wrong token.
            </p>
          ) : null}
          <p>Enter BTC_TS_API_TOKEN once; the browser keeps a session cookie (7 days).</p>
          <form method="post" action={SIGN_IN_PATH}>
            <input type="hidden" name="next" value={next} />
            <label for="token">API token </label>
            <input id="token" name="token" type="password" autocomplete="current-password" required />{' '}
            <button type="submit">Sign in</button>
          </form>
        </section>
      </main>
    </Layout>,
    401,
  );
}

/**
 * Runs the sync function once (the same one-in-flight run as cron and the API) and records the
 * outcome for the Sync card. A sync that takes longer than a moment keeps running in the background.
 */
async function retrySync(runtime: Runtime): Promise<{ outcome: SyncRetryOutcome; status: ContentfulStatusCode }> {
  const remember = (outcome: SyncRetryOutcome) => {
    runtime.local.set(SYNC_RETRY_SLOT, outcome);
    return outcome;
  };
  const at = runtime.clock.now();
  if (!runtime.invoker.has('sync')) {
    const outcome = remember({ at, ok: false, running: false, message: 'sync is not installed on this runtime yet (functions/sync.ts): nothing was retried' });
    return { outcome, status: 404 };
  }
  await runtime.audit.record('ui.sync.retry', { host: runtime.host });
  let status: ContentfulStatusCode = 202;
  remember({ at, ok: true, running: true, message: 'sync started' });
  const run = runtime.invoker.invoke('sync', {}, 'http').then(
    async (result) => {
      const summary = result as SyncSummary;
      // A sync that ran but could not copy (the NAS still down) is a failure to the button, as to the API.
      status = summary.ok === false ? 503 : 200;
      // What is left is counted, not guessed from `pending`: the operator wants "0 left".
      const left = await measureBacklog(runtime.store.cache).catch(() => null);
      remember({ at, ok: summary.ok !== false, running: false, message: runtime.masker.text(syncSentence(summary, left)) });
    },
    (err) => {
      const e = toBtcError(err);
      status = httpStatusOf[e.code] as ContentfulStatusCode;
      remember({ at, ok: false, running: false, message: `sync failed: ${publicMessage(e, 'runtime', (text) => runtime.masker.text(text))}` });
    },
  );
  await orAfter(run, RETRY_ANSWER_WITHIN_MS, undefined);
  return { outcome: runtime.local.get(SYNC_RETRY_SLOT)!, status };
}

/** The fields of the sync function's result the sentence uses (see functions/sync.ts). */
interface SyncSummary {
  ok?: boolean;
  reason?: string;
  items?: number;
  bytes?: number;
  elapsed_ms?: number;
  issues?: Array<{ kind: string; stream: string }>;
}

const SYNC_REASONS: Record<string, string> = {
  primary_down: 'the primary (NAS) is still down; nothing was copied',
};

/**
 * One sentence for the Sync card: "synced 12 objects (3.4 MiB) in 1.2 s; 0 left", or why it
 * failed ("sync failed: the primary (NAS) is still down; …"). `left` is the backlog counted after the run.
 */
export function syncSentence(result: SyncSummary, left: Backlog | null): string {
  const items = result.items ?? 0;
  const done = `${items} object${items === 1 ? '' : 's'} (${bytes(result.bytes ?? 0)}) in ${((result.elapsed_ms ?? 0) / 1000).toFixed(1)} s`;
  const remaining = left === null ? 'what is left could not be counted' : `${left.capped ? '≥ ' : ''}${left.objects} left`;
  if (result.ok !== false) return `synced ${done}; ${remaining}`;
  const why = result.reason ? (SYNC_REASONS[result.reason] ?? result.reason.replace(/_/g, ' ')) : 'see the runtime log';
  const issues = result.issues?.length ? `; ${result.issues.length} issue(s), first: ${result.issues[0]!.kind} in ${result.issues[0]!.stream}` : '';
  return `sync failed: ${why}${items ? `; copied ${done} before it stopped` : ''}${issues}; ${remaining}`;
}

function wantsJson(c: Context): boolean {
  return (c.req.header('accept') ?? '').includes('application/json');
}
