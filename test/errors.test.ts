// test/errors.test.ts
// The one error-code table (runtime/errors.ts): every code has an HTTP status, an error name and a CLI exit code, as CONTRACT and docs/http.md say.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BtcError, ERROR_CODE_LIST, ERROR_CODES, exitCodeOf, httpStatusOf, publicMessage, type ErrorCode } from '../runtime/errors.ts';

describe('error codes', () => {
  it('gives every code an HTTP error status, a unique snake_case name and an exit code of 1 or 2', () => {
    expect(ERROR_CODE_LIST.length).toBeGreaterThan(0);
    for (const code of ERROR_CODE_LIST) {
      const spec = ERROR_CODES[code];
      expect(Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599, `${code} status ${spec.status}`).toBe(true);
      expect(spec.name, code).toMatch(/^[a-z]+(?:_[a-z]+)*$/);
      expect([1, 2], code).toContain(spec.exit);
      expect(httpStatusOf[code], code).toBe(spec.status);
    }
    const names = ERROR_CODE_LIST.map((code) => ERROR_CODES[code].name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('keeps the statuses and exit codes the HTTP API and the CLI answer with', () => {
    const table = Object.fromEntries(ERROR_CODE_LIST.map((code) => [code, [ERROR_CODES[code].status, ERROR_CODES[code].exit]]));
    expect(table).toEqual({
      PreconditionFailed: [412, 1],
      NotFound: [404, 1],
      Unavailable: [503, 1],
      InvalidInput: [400, 2],
      InvalidKey: [400, 2],
      Unauthorized: [401, 1],
      Forbidden: [403, 1],
      UnsupportedMediaType: [415, 1],
      UnknownFunction: [404, 2],
      PayloadTooLarge: [413, 1],
      Busy: [409, 1],
      Conflict: [409, 1],
      DiskFull: [507, 1],
      IoError: [500, 1],
      NotAvailableHere: [501, 1],
      Internal: [500, 1],
    } satisfies Record<ErrorCode, [number, number]>);
  });

  it('matches the error table of docs/http.md, status for name', () => {
    const doc = readFileSync(new URL('../docs/http.md', import.meta.url), 'utf8');
    const rows = [...doc.matchAll(/^\| (\d{3}) \| `([a-z_]+)`/gm)].map((m) => [m[2]!, Number(m[1])] as const);
    expect(rows.length).toBeGreaterThanOrEqual(10);
    const byName = new Map<string, number>(ERROR_CODE_LIST.map((code) => [ERROR_CODES[code].name, ERROR_CODES[code].status]));
    for (const [name, status] of rows) expect(byName.get(name), name).toBe(status);
  });

  it('exits 1 for anything that is not a BtcError, and hides an Internal message from others', () => {
    expect(exitCodeOf(new Error('boom'))).toBe(1);
    expect(exitCodeOf('boom')).toBe(1);
    expect(exitCodeOf(new BtcError('UnknownFunction', 'no such function'))).toBe(2);
    expect(publicMessage(new BtcError('Internal', 'stack and secrets'), 'runtime')).toBe('internal error; see the runtime log');
    expect(publicMessage(new BtcError('Internal', 'stack and secrets'), 'worker')).toBe('internal error; see the worker log');
    expect(publicMessage(new BtcError('NotFound', 'key k: token abc'), 'runtime', (text) => text.replace('abc', '***'))).toBe('key k: token ***');
  });
});
