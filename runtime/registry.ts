// runtime/registry.ts
// Loads every duty from functions/ (one file, one default export) and the schedules from schedules/.

import { readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { AppConfig } from '../config/schema.ts';
import type { AnyFunction, FnContext } from './define.ts';
import { BtcError } from './errors.ts';
import { CODE_ROOT, PACKAGE_ROOT } from './paths.ts';

// The folders next to the running code: the .ts sources under tsx, their compiled .js in dist/ (runtime/paths.ts).
export const FUNCTIONS_DIR = path.join(CODE_ROOT, 'functions');
export const SCHEDULES_DIR = path.join(CODE_ROOT, 'schedules');

export interface ScheduleDef {
  /** Job name for logs; defaults to the file name. */
  name?: string;
  /** The function to run. */
  fn: string;
  /** A croner pattern (seconds field allowed) … */
  cron?: string;
  /** IANA zone of the cron pattern (`Etc/UTC`); default the PC's local time. */
  timezone?: string;
  /** … or a fixed period in seconds (sub-second allowed), possibly from the config. */
  everySeconds?: number | ((config: AppConfig) => number);
  /** With everySeconds: the first run this long after start instead of at once (then every period). */
  startDelaySeconds?: number | ((config: AppConfig) => number);
  input?: unknown;
  /** Skip the run unless this says yes (e.g. sync only when pending). */
  when?: (ctx: FnContext) => boolean;
}

export function defineSchedule(def: ScheduleDef): ScheduleDef {
  return def;
}

/** A file the registry (and the worker build) loads from functions/ or schedules/: .ts/.mjs/.js, not .d.ts, not _private, not a test. */
export const isModule = (f: string) => /\.(ts|mjs|js)$/.test(f) && !f.endsWith('.d.ts') && !f.startsWith('_') && !f.includes('.test.');

async function importDefaults<T>(dir: string): Promise<Array<{ file: string; value: T }>> {
  const files = readdirSync(dir).filter(isModule).sort();
  return Promise.all(
    files.map(async (file) => {
      const mod = (await import(pathToFileURL(path.join(dir, file)).href)) as { default?: T };
      if (!mod.default) throw new BtcError('Internal', `${path.relative(PACKAGE_ROOT, path.join(dir, file))} has no default export`);
      return { file, value: mod.default };
    }),
  );
}

export async function loadFunctions(dir = FUNCTIONS_DIR): Promise<Map<string, AnyFunction>> {
  const registry = new Map<string, AnyFunction>();
  for (const { file, value } of await importDefaults<AnyFunction>(dir)) {
    if (registry.has(value.name)) throw new BtcError('Internal', `function ${value.name} defined twice (${file})`);
    registry.set(value.name, value);
  }
  return registry;
}

/**
 * The one duty named `name` (functions/<name>.ts, or .mjs/.js), without loading the others: a CLI
 * command reads its duty's zod input here to derive its flags (runtime/cli/flags-from-zod.ts).
 * @throws BtcError UnknownFunction when no such file exports a duty of that name.
 */
export async function loadFunction(name: string, dir = FUNCTIONS_DIR): Promise<AnyFunction> {
  const file = readdirSync(dir).filter(isModule).find((f) => f.replace(/\.(ts|mjs|js)$/, '') === name);
  const mod = file ? ((await import(pathToFileURL(path.join(dir, file)).href)) as { default?: AnyFunction }) : undefined;
  if (!mod?.default || mod.default.name !== name) throw new BtcError('UnknownFunction', `unknown function ${name}`, { details: { name } });
  return mod.default;
}

export async function loadSchedules(functions: Map<string, AnyFunction>, dir = SCHEDULES_DIR): Promise<ScheduleDef[]> {
  const schedules = (await importDefaults<ScheduleDef>(dir)).map(({ file, value }) => ({
    ...value,
    name: value.name ?? file.replace(/\.(ts|mjs|js)$/, ''),
  }));
  const missing = schedules.filter((s) => !functions.has(s.fn));
  if (missing.length) {
    throw new BtcError('InvalidInput', `schedules name missing functions: ${missing.map((s) => `${s.name} → ${s.fn}`).join(', ')}`);
  }
  for (const s of schedules) {
    if (!s.cron === (s.everySeconds === undefined)) {
      throw new BtcError('InvalidInput', `schedule ${s.name} needs exactly one of cron or everySeconds`);
    }
  }
  return schedules;
}

/** JSON Schema of each function's input, for GET /fn and the OpenAPI document. */
export function describeFunctions(functions: Map<string, AnyFunction>) {
  return [...functions.values()].map((f) => ({
    name: f.name,
    description: f.description,
    input: z.toJSONSchema(f.input, { io: 'input', unrepresentable: 'any' }),
    output: z.toJSONSchema(f.output, { io: 'output', unrepresentable: 'any' }),
  }));
}
