// runtime/http/openapi.ts
// GET /openapi.json: an OpenAPI 3.1 document built from the functions' zod schemas and the routes' own schemas.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { MODES } from '../../config/schema.ts';
import type { AnyFunction } from '../define.ts';
import { PACKAGE_ROOT } from '../paths.ts';
import { describeFunctions } from '../registry.ts';
import { hostStatusSchema } from '../status.ts';
import { SESSION_COOKIE } from './ui-auth.ts';

const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

type JsonSchema = Record<string, unknown>;
type Auth = 'none' | 'bearer' | 'ui';

/** One documented route: the /docs page and /openapi.json both read this table. */
export interface RouteDoc {
  method: 'get' | 'post';
  path: string;
  summary: string;
  auth: Auth;
  /** Content type → schema of the 200 answer. */
  ok: Record<string, JsonSchema>;
}

const errorBody = z.object({
  ok: z.literal(false),
  error: z.string().describe('snake_case error name, e.g. invalid_input, unauthorized, unknown_function'),
  message: z.string(),
  issues: z.array(z.unknown()).optional(),
});
const healthBody = z.object({
  mode: z.enum(MODES),
  host: z.string(),
  leader: z.object({ host: z.string().nullable(), epoch: z.number(), self: z.boolean() }),
  storage: z.object({
    primary: z.enum(['up', 'down']),
    secondary: z.enum(['used', 'idle']),
    cause: z.string().nullable().describe('why writes go to the cache: `network`, or the S3 error code of a refusal (`MaxVersionsExceeded`, `AccessDenied`, …); null while the primary is up'),
    conditional_writes: z.string().describe('`ok`, `missing: <behaviour>, …` (the runtime stays DEBUG) or `unknown: <why>`: does the primary enforce If-None-Match / If-Match'),
  }),
  clock_skew_ms: z.number().nullable().describe("this PC's clock − the primary's (ms, + = ahead), from the S3 Date headers; null before it answered or on a local primary"),
  clock_skew_over_limit: z.boolean().describe('|clock_skew_ms| is over preflight.maxClockSkewSeconds'),
  disk: z
    .object({
      free_bytes: z.number().describe("free bytes of the data directory's file system (write-ahead log and cache)"),
      total_bytes: z.number(),
      warn_bytes: z.number().describe('storage.diskFreeWarnBytes'),
      low: z.boolean().describe('free_bytes is under warn_bytes'),
    })
    .nullable()
    .describe('null when the data directory cannot be measured'),
  /** The exchange origin the collector uses (null: ccxt's own hosts) and its streams; read by `runtime diag api` / `whatif`. */
  collector: z.object({ exchange_url: z.string().nullable(), streams: z.array(z.looseObject({ exchange: z.string(), topic: z.string() })) }),
  shards: z
    .object({
      count: z.number(),
      live: z.array(z.string()).describe('runtimes whose heartbeat object changed within a lease (this one included)'),
      share: z.number().nullable().describe('⌈shards ÷ live⌉: the most shards this runtime bids for'),
      refused: z.string().nullable().describe('why this runtime does not bid (runtimes disagree on collector.shards), else null'),
      held: z.array(z.number()).describe('shards this runtime collects'),
      rows: z.array(
        z.object({
          shard: z.number(),
          host: z.string().nullable(),
          epoch: z.number(),
          self: z.boolean(),
          since: z.string().nullable(),
          degraded: z.boolean(),
          preferred: z.string().nullable().describe('its preferred host by lease.preferredShards (null: none)'),
        }),
      ),
      preference: z
        .object({
          shards: z.array(z.number()).describe('shards this runtime is preferred for'),
          settled: z.boolean().describe('live long enough to ask for them back'),
          settle_ms: z.number().describe('the settle time now: lease.preferredSettleSeconds doubled per flap'),
          flaps: z.number().describe('times it lost them again soon after taking them back'),
          conflicts: z.array(z.string()).describe('shards two live runtimes both prefer (configs differ): preferred by neither'),
        })
        .nullable(),
      map: z.array(z.object({ exchange: z.string(), topic: z.string(), symbol: z.string(), shard: z.number(), pinned: z.boolean() })),
    })
    .optional()
    .describe('collector.shards > 1 only: who holds which shard with its epoch (docs/leader.md "Shards")'),
});
const statusBody = z.object({
  hosts: z.array(hostStatusSchema),
  errors: z.array(z.object({ key: z.string(), error: z.string() })),
  self: z.string(),
});
const functionListBody = z.object({
  functions: z.array(
    z.object({ name: z.string(), description: z.string(), input: z.record(z.string(), z.unknown()), output: z.record(z.string(), z.unknown()) }),
  ),
});
const retryBody = z.object({ ok: z.boolean(), running: z.boolean(), message: z.string() });

/** JSON Schema of a zod schema, without the `$schema` line (OpenAPI 3.1 sets the dialect). */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output' = 'output'): JsonSchema {
  return stripDialect(z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema);
}

export function stripDialect(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, ...rest } = schema;
  return rest;
}

const json = (schema: z.ZodType) => ({ 'application/json': jsonSchemaOf(schema) });
const html = { 'text/html': { type: 'string' } };

export const ROUTES: RouteDoc[] = [
  { method: 'get', path: '/', summary: 'The dashboard page (server-rendered; without a session it shows the sign-in form).', auth: 'ui', ok: html },
  { method: 'post', path: '/ui/session', summary: 'Sign-in form (application/x-www-form-urlencoded: token, next): sets the session cookie and answers 303 to next.', auth: 'none', ok: html },
  { method: 'get', path: '/ui/partials/main', summary: 'The dashboard body alone, re-fetched by the page every few seconds.', auth: 'ui', ok: html },
  { method: 'post', path: '/ui/sync/retry', summary: 'The Retry sync button: runs the sync function once (JSON with Accept: application/json, else 303 to /).', auth: 'ui', ok: json(retryBody) },
  { method: 'post', path: '/ui/handoff', summary: 'The Make handoff button: runs the handoff function and answers the zip.', auth: 'ui', ok: { 'application/zip': { type: 'string', contentMediaType: 'application/zip' } } },
  { method: 'get', path: '/health', summary: 'Mode, host, leader and storage state of this runtime.', auth: 'none', ok: json(healthBody) },
  { method: 'get', path: '/status', summary: 'Merged status of every host, read from the primary.', auth: 'bearer', ok: json(statusBody) },
  { method: 'get', path: '/metrics', summary: 'Prometheus metrics (text format).', auth: 'none', ok: { 'text/plain': { type: 'string' } } },
  { method: 'get', path: '/fn', summary: 'The functions with their input and output JSON Schemas.', auth: 'bearer', ok: json(functionListBody) },
  { method: 'get', path: '/openapi.json', summary: 'This document.', auth: 'ui', ok: { 'application/json': { type: 'object' } } },
  { method: 'get', path: '/docs', summary: 'Routes and functions with their schemas, as a page.', auth: 'ui', ok: html },
];

const ERROR_RESPONSES = {
  '400': 'invalid_input: the body does not match the input schema',
  '401': 'unauthorized: BTC_TS_API_TOKEN is set and the bearer token is missing or wrong',
  '403': 'forbidden: the request came from another site (Origin / Sec-Fetch-Site) or names a Host that is not this runtime',
  '404': 'unknown_function',
  '409': 'busy: the function is already running with another input',
  '413': 'payload_too_large',
  '415': 'unsupported_media_type: the body was not sent as Content-Type: application/json',
  '500': 'internal_error (no stack, no secrets)',
  '503': 'unavailable: a store or exchange is unreachable',
};

function securityOf(auth: Auth) {
  if (auth === 'none') return {};
  return { security: auth === 'bearer' ? [{ bearer: [] }] : [{ bearer: [] }, { session: [] }] };
}

function errorResponses(codes: string[]) {
  return Object.fromEntries(
    codes.map((code) => [code, { description: ERROR_RESPONSES[code as keyof typeof ERROR_RESPONSES], content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]),
  );
}

export function buildOpenApi(functions: Map<string, AnyFunction>): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of ROUTES) {
    paths[route.path] ??= {};
    paths[route.path]![route.method] = {
      operationId: operationId(route.method, route.path),
      summary: route.summary,
      tags: [route.path.startsWith('/ui') || route.path === '/' ? 'dashboard' : 'runtime'],
      ...securityOf(route.auth),
      responses: {
        '200': { description: 'ok', content: Object.fromEntries(Object.entries(route.ok).map(([type, schema]) => [type, { schema }])) },
        ...(route.auth === 'none' ? {} : errorResponses(['401'])),
      },
    };
  }
  for (const fn of describeFunctions(functions)) {
    const result = stripDialect(fn.output as JsonSchema);
    const content: Record<string, unknown> = {
      'application/json': { schema: { type: 'object', required: ['ok', 'result'], properties: { ok: { const: true }, result } } },
    };
    // The contract: POST /fn/handoff with Accept: application/zip answers the bundle itself.
    if (fn.name === 'handoff') content['application/zip'] = { schema: { type: 'string', contentMediaType: 'application/zip' } };
    paths[`/fn/${fn.name}`] = {
      post: {
        operationId: `fn_${fn.name.replace(/[^A-Za-z0-9_]/g, '_')}`,
        summary: fn.description,
        tags: ['functions'],
        ...securityOf('bearer'),
        requestBody: { required: false, description: 'The function input, sent as Content-Type: application/json (required, even for an empty body, which means {}).', content: { 'application/json': { schema: stripDialect(fn.input as JsonSchema) } } },
        responses: { '200': { description: 'the function result', content }, ...errorResponses(Object.keys(ERROR_RESPONSES)) },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'btc-ts runtime',
      version: VERSION,
      description: 'Every duty is a function: POST /fn/<name> with its input as JSON. Tokens are only enforced when BTC_TS_API_TOKEN is set.',
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'functions', description: 'The duties (functions/*.ts), one path each.' },
      { name: 'runtime', description: 'Health, status, metrics and this description.' },
      { name: 'dashboard', description: 'The operator page and its buttons.' },
    ],
    paths,
    components: {
      schemas: { Error: jsonSchemaOf(errorBody) },
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'BTC_TS_API_TOKEN' },
        session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'Set by signing in once with POST /ui/session (form field token).' },
      },
    },
  };
}

function operationId(method: string, routePath: string): string {
  const name = routePath === '/' ? 'dashboard' : routePath.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '');
  return `${method}_${name}`;
}
