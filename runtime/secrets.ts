// runtime/secrets.ts
// Masks secret values anywhere they might leak: logs, audit, status, errors, handoff bundles.

import type { AppConfig, Secrets } from '../config/schema.ts';

export const MASK = '***';
/** Values shorter than this are not masked by value (masking "a" would shred every text). */
const MIN_MASKABLE_LENGTH = 4;

/**
 * Each secret shape with its hint: a cheap test on the lower-cased text that every match needs to
 * pass (the words or marks the pattern cannot match without, in the order it needs them: a forward
 * search, without the pattern's look-behind). The look-behind patterns cost a scan per character,
 * and most texts (a repository's source files) hold none of these words, or not followed by `=`
 * or `:`. A pattern and its hint are written side by side, so a new or reordered pattern cannot
 * take another's hint.
 */
const SECRET_RULES: ReadonlyArray<{ pattern: RegExp; hint: (lower: string) => boolean }> = [
  // scheme://user:password@host — the password part.
  { pattern: /(?<=[a-z][a-z0-9+.-]*:\/\/[^\s/:@"'<>]*:)[^\s/@"'<>]+(?=@)/gi, hint: (t) => /:\/\/[^\s/:@"'<>]*:[^\s/@"'<>]+@/.test(t) },
  { pattern: /(?<=\bBearer\s+)[A-Za-z0-9._~+/=-]{8,}/g, hint: (t) => t.includes('bearer') },
  { pattern: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g, hint: (t) => t.includes('akia') || t.includes('asia') },
  { pattern: /(?<=hooks\.slack\.com\/services\/)[A-Za-z0-9/_-]+/g, hint: (t) => t.includes('hooks.slack.com/services/') },
  { pattern: /(?<=discord(?:app)?\.com\/api\/webhooks\/)[A-Za-z0-9/_-]+/g, hint: (t) => t.includes('discord') },
  // The name must end in the secret word (API_TOKEN=…, password: …), so `secrets.ts:42:7` in a stack stays readable.
  {
    pattern: /(?<=\b[A-Za-z0-9_-]*(?:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|secret[_-]?key)\s*[=:]\s*["']?)(?![(*<])[^\s"'&;,\\]{4,}/gi,
    hint: (t) => /(?:token|secret|passw(?:or)?d|api[_-]?key|access[_-]?key|secret[_-]?key)\s*[=:]/.test(t),
  },
];

/**
 * Secrets recognised by their shape wherever they appear, even when nobody told the masker their
 * value: credentials in a URL's user-info, bearer tokens, AWS access key ids, Slack / Discord
 * webhook paths, and `name=value` pairs whose name says "secret". Each keeps its harmless prefix.
 */
export const SECRET_PATTERNS: readonly RegExp[] = SECRET_RULES.map((r) => r.pattern);
const PATTERN_HINTS = new Map<RegExp, (lower: string) => boolean>(SECRET_RULES.map((r) => [r.pattern, r.hint]));

/**
 * Passes whenever any rule's hint passes (a case-insensitive search for the words they look for,
 * without lower-casing a copy of the text): most texts fail it, and then no SECRET_PATTERNS entry
 * can match. Without the `u` flag a case-insensitive match never maps a non-ASCII character to an
 * ASCII one (the Kelvin sign is no `k`), exactly as for the `i` patterns themselves.
 */
const ANY_HINT = /:\/\/|bearer|akia|asia|hooks\.slack\.com\/services\/|discord|token|secret|passw|api[_-]?key|access[_-]?key/i;

/**
 * The last text ANY_HINT failed on: a handoff bundle masks a file and then scans the masked text,
 * which is the very same string when nothing was masked (the usual case), so the second test is free.
 */
let lastWithoutHint: string | null = null;

/** The patterns of `patterns` that may match `text`: a SECRET_PATTERNS entry whose hint fails is left out; any other pattern stays. */
export function patternsFor(text: string, patterns: readonly RegExp[] = SECRET_PATTERNS): RegExp[] {
  if (text === lastWithoutHint || !ANY_HINT.test(text)) {
    lastWithoutHint = text;
    return patterns === SECRET_PATTERNS ? [] : patterns.filter((p) => !PATTERN_HINTS.has(p));
  }
  let lower: string | undefined;
  return patterns.filter((p) => {
    const hint = PATTERN_HINTS.get(p);
    return !hint || hint((lower ??= text.toLowerCase()));
  });
}

/**
 * A config key, env variable or command option that names a secret by kind: webhook URLs, upload
 * commands, tokens, secrets, passwords (pass, pwd), api / access / private keys, credentials.
 */
export const SECRET_KEY = /webhook|upload_?command|token|secret|pass(?:w(?:or)?d|phrase)?(?![a-z])|pwd|api[_-]?key|access[_-]?key|private[_-]?key|credential/i;

export interface Masker {
  /** Replaces every secret value (and every secret-shaped string, see SECRET_PATTERNS) in the text with ***. */
  text(input: string): string;
  /** Deep copy of a JSON-able value with secret values masked in every string. */
  value<T>(input: T): T;
  /** The secret values themselves (and their JSON-escaped forms), for scanning finished artefacts. */
  readonly values: readonly string[];
}

/**
 * Config values that are secrets by kind although they live in the config file or in a non-secret
 * environment variable: webhook URLs (their path is the credential) and the dashboard upload
 * command (it usually carries a password). Empty when the config has none.
 */
export function configSecretValues(config: Pick<AppConfig, 'alerts' | 'dashboard'> | undefined): string[] {
  if (!config) return [];
  const command = config.dashboard.uploadCommand;
  return [...config.alerts.webhookUrls, ...(command ? [command, ...commandSecretValues(command)] : [])];
}

/**
 * The parts of a shell command that are secrets on their own, so that they stay masked when the
 * command echoes them (an upload tool printing its password in an error): secret-shaped strings
 * (SECRET_PATTERNS), `NAME=value` assignments and `--option value` / `--option=value` whose name
 * is SECRET_KEY, and the password of `-u` / `--user user:password`. Short options other than -u
 * are not guessed at (`-p` is a port or `mkdir -p` as often as a password).
 */
export function commandSecretValues(command: string): string[] {
  const found: string[] = [];
  for (const p of SECRET_PATTERNS) for (const m of command.matchAll(new RegExp(p.source, p.flags))) found.push(m[0]);
  const words = command.split(/[\s;&|]+/).map(unquote).filter(Boolean);
  words.forEach((word, i) => {
    const assignment = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(word);
    if (assignment && SECRET_KEY.test(assignment[1]!)) found.push(unquote(assignment[2]!));
    const option = /^(--?[A-Za-z][\w-]*)(?:=(.+))?$/.exec(word);
    if (!option) return;
    const value = option[2] ?? words[i + 1];
    if (!value) return;
    if (option[1] === '-u' || option[1] === '--user') {
      if (value.includes(':')) found.push(value.slice(value.indexOf(':') + 1));
    } else if (option[1]!.startsWith('--') && SECRET_KEY.test(option[1]!)) found.push(unquote(value));
  });
  return [...new Set(found.filter((v) => v.length >= MIN_MASKABLE_LENGTH && v !== MASK))];
}

/**
 * `secrets`: the environment's secrets; `extra`: more values to hide (configSecretValues). A value
 * is matched as it is and as it appears inside serialised JSON (quotes and backslashes escaped),
 * so a secret holding `"` or `\` cannot slip past `value()` or a log line.
 */
export function createMasker(secrets: Secrets, extra: readonly string[] = []): Masker {
  const raw = [...Object.values(secrets), ...extra].filter((v): v is string => typeof v === 'string' && v.length >= MIN_MASKABLE_LENGTH);
  const values = [...new Set(raw.flatMap((v) => [v, jsonEscaped(v), jsonEscaped(jsonEscaped(v))]))].sort((a, b) => b.length - a.length);
  const pattern = values.length ? new RegExp(values.map(escapeRegExp).join('|'), 'g') : null;
  const text = (input: string) => {
    let out = pattern ? input.replace(pattern, MASK) : input;
    for (const p of patternsFor(out)) out = out.replace(p, MASK);
    return out;
  };
  const value = <T>(input: T): T => JSON.parse(text(JSON.stringify(input) ?? 'null')) as T;
  return { text, value, values };
}

/** Shows that a secret is set without showing it. */
export function describeSecret(value: string | undefined): string {
  return value ? `${MASK} (set, ${value.length} chars)` : '(unset)';
}

/** `s` without one pair of surrounding quotes (shell and env-file values). */
export function unquote(s: string): string {
  return s.replace(/^(["'])(.*)\1$/, '$2');
}

function jsonEscaped(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * `base` that also hides `extra` (values found while building one artefact, e.g. the secrets in a
 * bundled config file). `values` is the union, so a final scan covers both.
 */
export function extendMasker(base: Masker, extra: readonly string[]): Masker {
  if (extra.length === 0) return base;
  const more = createMasker({}, extra);
  const text = (input: string) => base.text(more.text(input));
  const value = <T>(input: T): T => JSON.parse(text(JSON.stringify(input) ?? 'null')) as T;
  return { text, value, values: [...new Set([...more.values, ...base.values])].sort((a, b) => b.length - a.length) };
}
