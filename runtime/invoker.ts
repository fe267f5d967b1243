// runtime/invoker.ts
// Runs functions: validates input, one in-flight run per name (cron, HTTP and CLI alike), metrics, errors.

import { orAfter } from './async.ts';
import type { AnyFunction, FnContext } from './define.ts';
import { BtcError, toBtcError } from './errors.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';

export type InvokeSource = 'cron' | 'http' | 'cli' | 'internal';

export interface InvokerOptions {
  functions: Map<string, AnyFunction>;
  context: () => FnContext;
  log: Logger;
  metrics?: Metrics;
  /** Called after every run (ship audit segments, …). */
  afterRun?: (name: string) => Promise<void> | void;
}

export class Invoker {
  private readonly running = new Map<string, { inputKey: string; promise: Promise<unknown> }>();
  private readonly options: InvokerOptions;

  constructor(options: InvokerOptions) {
    this.options = options;
  }

  has(name: string): boolean {
    return this.options.functions.has(name);
  }

  isRunning(name: string): boolean {
    return this.running.has(name);
  }

  /** Resolves when every in-flight run has finished (or failed), or after `timeoutMs`, whichever comes first. */
  async settle(timeoutMs: number): Promise<void> {
    const inFlight = [...this.running.values()].map((r) => r.promise.catch(() => undefined));
    if (inFlight.length === 0) return;
    await orAfter(Promise.all(inFlight), timeoutMs, undefined);
  }

  /**
   * Runs `name` with `rawInput`. A call while the same function runs with the same input joins
   * that run (one in flight, like nitro's running-task map); with different input it is Busy.
   */
  invoke(name: string, rawInput: unknown = {}, source: InvokeSource = 'internal'): Promise<unknown> {
    const fn = this.options.functions.get(name);
    if (!fn) return Promise.reject(new BtcError('UnknownFunction', `unknown function ${name}`, { details: { name } }));
    const parsed = fn.input.safeParse(rawInput ?? {});
    if (!parsed.success) {
      return Promise.reject(new BtcError('InvalidInput', `invalid input for ${name}`, { details: parsed.error.issues }));
    }
    const inputKey = JSON.stringify(parsed.data) ?? '';
    const inFlight = this.running.get(name);
    if (inFlight) {
      if (inFlight.inputKey === inputKey) return inFlight.promise;
      return Promise.reject(new BtcError('Busy', `${name} is already running`));
    }
    const promise = this.run(fn, parsed.data, source).finally(() => this.running.delete(name));
    this.running.set(name, { inputKey, promise });
    return promise;
  }

  private async run(fn: AnyFunction, input: unknown, source: InvokeSource): Promise<unknown> {
    const { log, metrics } = this.options;
    const started = performance.now();
    const ctx = this.options.context();
    try {
      const output = await fn.run(input, ctx);
      const checked = fn.output.safeParse(output);
      if (!checked.success) {
        throw new BtcError('Internal', `${fn.name} returned output that does not match its schema`, { details: checked.error.issues });
      }
      metrics?.observeRun(fn.name, source, 'ok', performance.now() - started);
      log.debug({ fn: fn.name, source, ms: Math.round(performance.now() - started) }, 'function ok');
      return checked.data;
    } catch (err) {
      const e = toBtcError(err);
      metrics?.observeRun(fn.name, source, 'error', performance.now() - started);
      log.warn({ fn: fn.name, source, code: e.code, err: e.message, cause: e.code === 'Internal' ? String(err instanceof Error ? err.stack : err) : undefined }, 'function failed');
      throw e;
    } finally {
      try {
        await this.options.afterRun?.(fn.name);
      } catch (err) {
        log.warn({ fn: fn.name, err: String(err) }, 'after-run hook failed');
      }
    }
  }
}
