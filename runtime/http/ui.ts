// runtime/http/ui.ts
// Mounts the operator UI on the app (dashboard, docs, openapi.json) through createApp's `extend` hook.

import type { Hono, MiddlewareHandler } from 'hono';
import type { Runtime } from '../context.ts';
import { DashboardData } from './dashboard-data.ts';
import { mountDashboard, signInPage } from './dashboard-routes.tsx';
import { mountDocs } from './docs-page.tsx';
import { createUiAuth } from './ui-auth.ts';

export interface UiOptions {
  /** Replaces the operator's handover file the ToDo card falls back to (tests). */
  handoverFile?: string;
}

/** `createApp(runtime, { extend: mountUi })`. The API guard is not needed: the UI's own accepts the bearer too. */
export function mountUi(app: Hono, runtime: Runtime, _apiGuard?: MiddlewareHandler, options: UiOptions = {}): void {
  const auth = createUiAuth(runtime, signInPage);
  mountDashboard(app, runtime, auth, new DashboardData(runtime, { handoverFile: options.handoverFile }));
  mountDocs(app, runtime, auth);
}
