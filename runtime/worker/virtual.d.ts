// runtime/worker/virtual.d.ts
// Types of the modules runtime/worker/build.ts generates at bundle time (the duties and the config file).

declare module 'btc-worker:duties' {
  import type { AnyFunction } from '../define.ts';
  import type { ScheduleDef } from '../registry.ts';
  /** Every functions/*.ts except the Node-only ones (runtime/worker/node-only.ts), by file. */
  export const functions: Array<{ file: string; value: AnyFunction }>;
  /** Every schedules/*.ts, by file. */
  export const schedules: Array<{ file: string; value: ScheduleDef }>;
}

declare module 'btc-worker:app-config' {
  /** config/app.yaml, parsed when the bundle was built. */
  const data: Record<string, unknown>;
  export default data;
}
