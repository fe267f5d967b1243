// runtime/http/docs-page.tsx
// GET /docs and GET /openapi.json: the routes and every function with its schemas, served by the runtime itself (no CDN).

import type { Hono } from 'hono';
import type { Runtime } from '../context.ts';
import { describeFunctions } from '../registry.ts';
import { Layout } from './layout.tsx';
import { buildOpenApi, ROUTES, stripDialect } from './openapi.ts';
import type { UiAuth } from './ui-auth.ts';

const AUTH_LABEL = { none: 'open', bearer: 'bearer token', ui: 'bearer token or session cookie' } as const;

export function mountDocs(app: Hono, runtime: Runtime, auth: UiAuth): void {
  // Functions are loaded once at start, so the document is built once.
  const document = buildOpenApi(runtime.functions);
  app.get('/openapi.json', auth.guard, (c) => c.json(document));
  app.get('/docs', auth.guard, (c) => c.html(<DocsPage runtime={runtime} />));
}

function DocsPage({ runtime }: { runtime: Runtime }) {
  const functions = describeFunctions(runtime.functions);
  return (
    <Layout
      title="btc-ts · API"
      nav={
        <nav aria-label="Other pages">
          <a href="/">dashboard</a>
          <a href="/openapi.json">openapi.json</a>
        </nav>
      }
    >
      <main>
        <section class="card wide" aria-labelledby="h-routes">
          <h2 id="h-routes">Routes</h2>
          <p class="muted">
            When BTC_TS_API_TOKEN is set, guarded routes need <code>Authorization: Bearer &lt;token&gt;</code>; a browser signs in once on the page's form
            (<code>POST /ui/session</code>) and gets a session cookie for the dashboard routes (7 days). State-changing requests
            must come from this page's own origin, and <code>POST /fn/…</code> takes <code>Content-Type: application/json</code> only.
          </p>
          <div class="table-wrap">
            <table class="stack">
              <thead>
                <tr>
                  <th scope="col">Method</th>
                  <th scope="col">Path</th>
                  <th scope="col">Access</th>
                  <th scope="col">What it does</th>
                </tr>
              </thead>
              <tbody>
                {ROUTES.map((r) => (
                  <tr>
                    <td data-label="Method">{r.method.toUpperCase()}</td>
                    <td data-label="Path">
                      <code>{r.path}</code>
                    </td>
                    <td data-label="Access">{AUTH_LABEL[r.auth]}</td>
                    <td data-label="What it does">{r.summary}</td>
                  </tr>
                ))}
                <tr>
                  <td data-label="Method">POST</td>
                  <td data-label="Path">
                    <code>/fn/:name</code>
                  </td>
                  <td data-label="Access">{AUTH_LABEL.bearer}</td>
                  <td data-label="What it does">Runs one function (below) with the JSON body as input: 200 {'{ ok: true, result }'}, 400 invalid_input, 404 unknown_function.</td>
                </tr>
              </tbody>
            </table>
          </div>
        </section>
        <h2>Functions</h2>
        {functions.map((fn) => (
          <section class="card wide" id={`fn-${fn.name}`} aria-labelledby={`h-fn-${fn.name}`}>
            <h3 id={`h-fn-${fn.name}`}>
              <code>POST /fn/{fn.name}</code>
            </h3>
            <p>{fn.description}</p>
            <h4>Input schema</h4>
            <pre data-testid={`input-${fn.name}`}>{JSON.stringify(stripDialect(fn.input), null, 2)}</pre>
            <details>
              <summary>Output schema</summary>
              <pre>{JSON.stringify(stripDialect(fn.output), null, 2)}</pre>
            </details>
          </section>
        ))}
      </main>
    </Layout>
  );
}
