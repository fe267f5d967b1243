// test/openapi.test.ts
// GET /openapi.json validates as OpenAPI 3.1 and lists every function with its input schema; /docs shows them.

import { Validator } from '@seriousme/openapi-schema-validator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineFunction } from '../runtime/define.ts';
import { ROUTES } from '../runtime/http/openapi.ts';
import { createUiRuntime, type UiRuntime } from './helpers/ui-runtime.ts';

/** A function with a richer input than the real ones so far: nested, optional, enum, default. */
const sample = defineFunction({
  name: 'sample-echo',
  description: 'echoes its input (test only)',
  input: z.object({ symbols: z.array(z.string()).min(1), depth: z.number().int().default(10), mode: z.enum(['a', 'b']).optional() }).strict(),
  output: z.object({ echoed: z.number() }),
  async run(input) {
    return { echoed: input.symbols.length };
  },
});

let u: UiRuntime;
let doc: Record<string, any>;
beforeAll(async () => {
  u = await createUiRuntime({ extraFunctions: [sample] });
  const res = await u.app.request('/openapi.json');
  expect(res.status).toBe(200);
  doc = (await res.json()) as Record<string, any>;
});
afterAll(() => u.dispose());

describe('/openapi.json', () => {
  it('validates against the OpenAPI 3.1 JSON Schema', async () => {
    const result = await new Validator().validate(doc);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(doc.openapi).toMatch(/^3\.1\./);
  });

  it('a broken document does not validate (the validator can fail)', async () => {
    const broken = structuredClone(doc);
    delete broken.info;
    broken.paths['/health'].get.responses = 'nope';
    expect((await new Validator().validate(broken)).valid).toBe(false);
  });

  it('lists every function with its input schema', () => {
    expect(u.runtime.functions.size).toBeGreaterThanOrEqual(2);
    for (const fn of u.runtime.functions.values()) {
      const op = doc.paths[`/fn/${fn.name}`]?.post;
      expect(op, fn.name).toBeDefined();
      const { $schema: _ignored, ...expected } = z.toJSONSchema(fn.input, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
      expect(op.requestBody.content['application/json'].schema).toEqual(expected);
      expect(op.responses['200'].content['application/json'].schema.properties.result).toBeDefined();
      expect(op.responses['400']).toBeDefined();
    }
    const echo = doc.paths['/fn/sample-echo'].post.requestBody.content['application/json'].schema;
    expect(echo.required).toEqual(['symbols']);
    expect(echo.properties.mode.enum).toEqual(['a', 'b']);
  });

  it('documents every route the app serves', () => {
    const served = new Set(u.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path}`));
    for (const route of served) {
      if (route === 'post /fn/:name') continue; // one path per function, checked above
      const [method, path] = route.split(' ') as [string, string];
      expect(doc.paths[path]?.[method], route).toBeDefined();
    }
    expect(ROUTES.map((r) => r.path)).toEqual(expect.arrayContaining(['/', '/ui/sync/retry', '/health', '/status', '/fn', '/docs']));
  });
});

describe('/docs', () => {
  it('shows every route and every function with its input schema, no external assets', async () => {
    const page = await (await u.app.request('/docs')).text();
    for (const route of ROUTES) expect(page).toContain(`<code>${route.path}</code>`);
    for (const fn of u.runtime.functions.values()) {
      expect(page).toContain(`POST /fn/${fn.name}`);
      expect(page).toContain(`data-testid="input-${fn.name}"`);
    }
    expect(page).toContain('&quot;symbols&quot;');
    expect(page).not.toMatch(/<(script|link)[^>]+(src|href)="https?:/);
  });
});
