// runtime/cli/flags-from-zod.ts
// CLI flags derived from a zod input (a duty's, or a command's own): node:util parseArgs options, the usage line, --help lines, and validation through that schema.

import type { ParseArgsConfig } from 'node:util';
import { z } from 'zod';
import { BtcError } from '../errors.ts';
import { loadFunction } from '../registry.ts';
import type { Command, Flags } from './main.ts';

type OptionSpec = NonNullable<ParseArgsConfig['options']>[string];

/** What a flag's value is parsed as before the duty's schema judges it. */
type ValueKind = 'boolean' | 'number' | 'string';

/** One input key of the duty and how the command line gives it. */
export interface DerivedFlag {
  /** The duty's input key (snake_case, as POST /fn/<duty> takes it). */
  key: string;
  /** `--dry-run`, `--no-upload` (a boolean whose default is true), or `<action>` for a positional. */
  flag: string;
  /** The parseArgs option name (without `--`), or null for a positional. */
  option: string | null;
  /** Index among the positionals, for a positional. */
  position: number | null;
  kind: ValueKind;
  /** What the usage line shows for the value: `N`, `X`, `URL`, `a|b|c`, else the option in upper snake case; null for a switch. */
  metavar: string | null;
  /** The schema needs it (no default, undefined refused): the usage line shows it without brackets. */
  required: boolean;
  /** An array input: the flag is repeatable. */
  multiple: boolean;
  /** A boolean defaulting to true is given as `--no-<key>`, which sets it false. */
  negated: boolean;
  /** The help text: the `.describe()` text, then type, bounds, enum values and default. */
  help: string;
}

export interface DerivationOptions {
  /** Input key → option name where it is not the key in kebab-case (compact's `streams` is `--stream`). */
  flagNames?: Record<string, string>;
  /** Input keys taken from the positionals, in order (`state override <action>`). */
  positionalKeys?: string[];
}

/** Peels optional / default / nullable wrappers: the value schema, its default (if any) and the first description met. */
function unwrap(schema: z.ZodType): { inner: z.ZodType; hasDefault: boolean; defaultValue: unknown; description: string | undefined } {
  let inner = schema;
  let hasDefault = false;
  let defaultValue: unknown;
  let description = schema.description;
  for (;;) {
    if (inner instanceof z.ZodDefault) {
      hasDefault = true;
      defaultValue = inner.def.defaultValue;
      inner = inner.def.innerType as z.ZodType;
    } else if (inner instanceof z.ZodOptional || inner instanceof z.ZodNullable) {
      inner = inner.def.innerType as z.ZodType;
    } else break;
    description ??= inner.description;
  }
  return { inner, hasDefault, defaultValue, description };
}

/** The checks zod keeps on a schema (bounds, formats), read for help text only. */
function checksOf(schema: z.ZodType): Array<Record<string, unknown>> {
  const checks = (schema.def as { checks?: Array<{ _zod?: { def?: Record<string, unknown> } }> }).checks ?? [];
  return checks.map((c) => c._zod?.def ?? {});
}

/** `integer 1..64`, `number > 0`, `auto | disable | force`, `string /^…$/`, `URL`: what a value must be; `metavar` its name in the usage line, where the kind says more than the key. */
function describeValue(schema: z.ZodType): { kind: ValueKind; text: string; metavar?: string } {
  if (schema instanceof z.ZodBoolean) return { kind: 'boolean', text: 'boolean' };
  if (schema instanceof z.ZodEnum) {
    const values = (schema.options as unknown[]).map(String);
    return { kind: 'string', text: values.join(' | '), metavar: values.join('|') };
  }
  if (schema instanceof z.ZodNumber) {
    const checks = checksOf(schema);
    const int = checks.some((c) => c.check === 'number_format' && typeof c.format === 'string' && /int/.test(c.format));
    const low = checks.find((c) => c.check === 'greater_than');
    const high = checks.find((c) => c.check === 'less_than');
    const kind = int ? 'integer' : 'number';
    const metavar = int ? 'N' : 'X';
    if (low?.inclusive && high?.inclusive) return { kind: 'number', text: `${kind} ${String(low.value)}..${String(high.value)}`, metavar };
    const bounds = [low && `${low.inclusive ? '≥' : '>'} ${String(low.value)}`, high && `${high.inclusive ? '≤' : '<'} ${String(high.value)}`].filter(Boolean);
    return { kind: 'number', text: [kind, bounds.join(', ')].filter(Boolean).join(' '), metavar };
  }
  // z.url(), z.email() … are string formats, not ZodString instances.
  if (schema instanceof z.ZodString || schema.def.type === 'string') {
    const checks = checksOf(schema);
    const format = (schema.def as { format?: string }).format;
    const regex = checks.find((c) => c.check === 'string_format' && c.format === 'regex')?.pattern;
    const min = checks.find((c) => c.check === 'min_length')?.minimum;
    const max = checks.find((c) => c.check === 'max_length')?.maximum;
    const parts = [format === 'url' ? 'URL' : 'string'];
    if (regex instanceof RegExp) parts.push(String(regex));
    if (min !== undefined && max !== undefined) parts.push(`length ${String(min)}..${String(max)}`);
    else if (max !== undefined) parts.push(`length ≤ ${String(max)}`);
    else if (min === 1) parts.push('non-empty');
    else if (min !== undefined) parts.push(`length ≥ ${String(min)}`);
    return { kind: 'string', text: parts.join(' '), ...(format === 'url' ? { metavar: 'URL' } : {}) };
  }
  // A refinement or anything else: a string the schema judges.
  return { kind: 'string', text: 'string' };
}

const kebab = (key: string) => key.replace(/_/g, '-');
/**
 * A value's name in the usage line, by option, where the option's name says less: the same words
 * the hand-written usage lines use too (`--config FILE`).
 */
const METAVARS: Record<string, string> = { config: 'FILE', 'json-out': 'FILE', out: 'FILE|DIR', date: 'YYYY-MM-DD' };
/** `job-id` → `JOB_ID`: a value's name in the usage line when its kind and METAVARS say nothing more. */
const upperSnake = (name: string) => METAVARS[name] ?? name.replace(/-/g, '_').toUpperCase();

/**
 * The flags of a zod object `schema` (a duty's input): one per key, kebab-case of the key unless
 * `flagNames` says otherwise; arrays are repeatable; a boolean defaulting to true becomes
 * `--no-<key>` (Node 20's parseArgs has no negation). @throws BtcError Internal for a schema that
 * is not a zod object (a programming error, not the user's).
 */
export function deriveFlags(schema: z.ZodType, options: DerivationOptions = {}): DerivedFlag[] {
  if (!(schema instanceof z.ZodObject)) throw new BtcError('Internal', 'flags can only be derived from a zod object schema');
  const positionalKeys = options.positionalKeys ?? [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([key, field]) => {
    const { inner, hasDefault, defaultValue, description } = unwrap(field);
    const multiple = inner instanceof z.ZodArray;
    const element = multiple ? (inner.def.element as z.ZodType) : inner;
    const value = describeValue(unwrap(element).inner);
    const negated = value.kind === 'boolean' && !multiple && hasDefault && defaultValue === true;
    const position = positionalKeys.indexOf(key);
    const option = position >= 0 ? null : negated ? `no-${kebab(key)}` : (options.flagNames?.[key] ?? kebab(key));
    const required = !hasDefault && !field.safeParse(undefined).success;
    const facts = [`${value.text}${multiple ? ', repeatable' : ''}`];
    if (hasDefault) facts.push(`default ${JSON.stringify(defaultValue)}`);
    else if (required) facts.push('required');
    if (negated) facts.push(`--${option} sets false`);
    // `--no-upload` says what giving it does: the duty's description says what the key does when true.
    const says = description ? (negated ? `don't ${description}` : description) : '';
    const help = `${says ? `${says} ` : ''}[${key}: ${facts.join(', ')}]`;
    const metavar = value.kind === 'boolean' ? null : (value.metavar ?? (option === null ? `<${key}>` : upperSnake(option)));
    return { key, flag: option === null ? `<${key}>` : `--${option}`, option, position: position >= 0 ? position : null, kind: value.kind, metavar, required, multiple, negated, help };
  });
}

/** parseArgs options of the derived flags (positionals have none). */
export function optionsOf(flags: DerivedFlag[]): Record<string, OptionSpec> {
  return Object.fromEntries(flags.filter((f) => f.option !== null).map((f) => [f.option!, { type: f.kind === 'boolean' ? 'boolean' : 'string', ...(f.multiple ? { multiple: true } : {}) } as OptionSpec]));
}

/** A number when the text is one, else the text itself, so the schema names what it expected. */
function coerce(raw: string, kind: ValueKind): unknown {
  if (kind !== 'number') return raw;
  return /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(raw) ? Number(raw) : raw;
}

/**
 * The duty's input from parsed flags and positionals, validated by the duty's own `schema` (the
 * same check POST /fn/<duty> makes): the parsed input (defaults applied). @throws BtcError
 * InvalidInput `invalid input for <duty>: --concurrency: Too big: expected number to be <=64`,
 * each zod issue prefixed by the flag it came from; `details` holds the issues as HTTP's 400 does.
 */
export function inputFromFlags(duty: string, schema: z.ZodType, derived: DerivedFlag[], flags: Flags, positionals: string[]): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const f of derived) {
    const given = f.option === null ? positionals[f.position!] : flags[f.option];
    if (given === undefined) continue;
    if (f.kind === 'boolean') raw[f.key] = f.negated ? !given : given === true;
    else if (Array.isArray(given)) raw[f.key] = given.map((v) => coerce(v, f.kind));
    else raw[f.key] = coerce(String(given), f.kind);
  }
  const parsed = schema.safeParse(raw);
  if (parsed.success) return parsed.data as Record<string, unknown>;
  const flagOf = new Map(derived.map((f) => [f.key, f.flag]));
  const lines = parsed.error.issues.map((issue) => {
    const key = issue.path[0];
    const where = typeof key === 'string' ? (flagOf.get(key) ?? key) : 'input';
    return `${where}: ${issue.message}`;
  });
  throw new BtcError('InvalidInput', `invalid input for ${duty}: ${lines.join('; ')}`, { details: parsed.error.issues });
}

/**
 * The usage line: `runtime <name>`, the positionals, every derived flag, then the command's own
 * `options` (parseArgs specs; a string option's value is named in upper snake case). Optional ones
 * are bracketed, repeatable ones end in `…`; derived from the same flags the parser takes, so the
 * line cannot drift from them.
 */
export function usageOf(name: string, derived: DerivedFlag[], own: Record<string, OptionSpec> = {}): string {
  const item = (text: string, required: boolean, multiple: boolean) => `${required ? text : `[${text}]`}${multiple ? '…' : ''}`;
  const positionals = derived.filter((f) => f.option === null).sort((a, b) => a.position! - b.position!).map((f) => item(f.metavar ?? f.flag, f.required, f.multiple));
  const flags = derived.filter((f) => f.option !== null).map((f) => item(`${f.flag}${f.metavar ? ` ${f.metavar}` : ''}`, f.required, f.multiple));
  const options = Object.entries(own).map(([option, spec]) => item(`--${option}${spec.type === 'string' ? ` ${upperSnake(option)}` : ''}`, false, spec.multiple === true));
  return ['runtime', name, ...positionals, ...flags, ...options].join(' ');
}

/** A command whose flags are a zod object's keys: its CLI-only options plus the flags derived from the schema. */
export interface ZodCommandDef extends Omit<Command, 'run' | 'prepare' | 'inputHelp' | 'usage'>, DerivationOptions {
  /** Runs with the validated input (defaults applied) and the raw flags (for the CLI-only options). */
  run(input: Record<string, unknown>, flags: Flags, positionals: string[]): Promise<number>;
}

/** A command that runs one duty: its flags are the duty's input. */
export interface DutyCommandDef extends ZodCommandDef {
  /** The duty's name (functions/<duty>.ts). */
  duty: string;
}

/** The schema a command's flags come from, loaded when the command is about to run or show its help. */
interface FlagSource {
  load(): Promise<z.ZodType>;
  /** Who judges the input, in the error message: `invalid input for <judge>: …`. */
  judge: string;
  /** The --help section title of the derived flags. */
  title: string;
}

/**
 * A Command whose duty flags are derived when it is about to run or show its help (`prepare`):
 * only then is the duty's module loaded, so `runtime --help` loads no duty. A bad flag value is
 * refused (exit 2) with the duty's own zod message before any runtime is built.
 */
export function dutyCommand(def: DutyCommandDef): Command {
  const { duty, ...rest } = def;
  return commandOver({ load: async () => (await loadFunction(duty)).input, judge: duty, title: `input of the duty ${duty} (POST /fn/${duty} takes the same keys):` }, rest);
}

/**
 * A command that runs no duty but checks its flags with a zod object `schema` the way a duty
 * command does (`runtime dashboard verify`): derived flags, usage and help, the same error
 * messages; `title` heads the derived flags in --help.
 */
export function zodCommand(schema: z.ZodType, def: ZodCommandDef, title = `flags of runtime ${def.name} (checked by its zod schema):`): Command {
  return commandOver({ load: async () => schema, judge: def.name, title }, def);
}

function commandOver(source: FlagSource, def: ZodCommandDef): Command {
  const { flagNames, positionalKeys, run, ...shape } = def;
  const prepare = async (): Promise<Command> => {
    const schema = await source.load();
    const derived = deriveFlags(schema, { flagNames, positionalKeys });
    const own = def.options ?? {};
    const clash = derived.find((f) => f.option !== null && Object.hasOwn(own, f.option));
    if (clash) throw new BtcError('Internal', `runtime ${def.name}: --${clash.option} is both a CLI option and ${source.judge}'s input ${clash.key}`);
    return {
      ...shape,
      usage: usageOf(def.name, derived, own),
      options: { ...optionsOf(derived), ...own },
      optionHelp: { ...Object.fromEntries(derived.filter((f) => f.option !== null).map((f) => [f.option!, f.help])), ...def.optionHelp },
      inputHelp: {
        title: source.title,
        flags: derived.map((f) => f.option).filter((o): o is string => o !== null),
        lines: derived.map((f) => `  ${`${f.flag}${f.option !== null && f.kind !== 'boolean' ? ' <value>' : ''}${f.multiple ? ' …' : ''}`.padEnd(28)} ${f.help}`),
      },
      run: (flags, positionals) => run(inputFromFlags(source.judge, schema, derived, flags, positionals), flags, positionals),
    };
  };
  // The usage line needs the schema: a command is prepared before anything prints it (runtime/cli/main.ts).
  return { ...shape, usage: `runtime ${def.name} [options]`, prepare, run: async (flags, positionals) => (await prepare()).run(flags, positionals) };
}
