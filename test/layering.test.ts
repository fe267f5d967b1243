// test/layering.test.ts
// The layers hold: nothing under runtime/ imports functions/ (duties load only by the registry's directory scan), and every duty is named after its file.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import type { AnyFunction } from '../runtime/define.ts';
import { FUNCTIONS_DIR, isModule } from '../runtime/registry.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RUNTIME_DIR = path.join(ROOT, 'runtime');

/**
 * Computed dynamic imports allowed under runtime/ (repository-relative, `/` separators). The
 * registry imports each functions/*.ts by a path it builds from a directory scan at run time: that
 * is the one sanctioned way in, and it is not an import statement. (The worker bundle's duty list,
 * runtime/worker/build.ts, is generated the same way at build time, as text for esbuild, so it
 * holds no import either.) Any other `import(<expression>)` must be looked at and listed here.
 */
const COMPUTED_IMPORTS_ALLOWED = ['runtime/registry.ts'];

interface Imports {
  /** Every module specifier written as a string: import / export … from, import type, import('…'), require('…'). */
  specifiers: string[];
  /** How many `import(…)` calls take an expression rather than a string literal. */
  computed: number;
}

/** The imports of one TypeScript source, read from its syntax tree (comments and strings never count). */
function importsOf(fileName: string, source: string): Imports {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: Imports = { specifiers: [], computed: 0 };
  const literal = (node: ts.Node | undefined) => (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) ? node.text : null);
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      const spec = literal(node.moduleSpecifier);
      if (spec !== null) out.specifiers.push(spec);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const spec = literal(node.moduleReference.expression);
      if (spec !== null) out.specifiers.push(spec);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const spec = literal(node.argument.literal);
      if (spec !== null) out.specifiers.push(spec);
    } else if (ts.isCallExpression(node) && (node.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(node.expression) && node.expression.text === 'require'))) {
      const spec = literal(node.arguments[0]);
      if (spec !== null) out.specifiers.push(spec);
      else if (node.expression.kind === ts.SyntaxKind.ImportKeyword) out.computed++;
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The specifiers of `file` (absolute) that resolve into functions/. */
function functionsImports(file: string, specifiers: string[]): string[] {
  return specifiers.filter((spec) => {
    if (!spec.startsWith('.')) return false;
    const rel = path.relative(ROOT, path.resolve(path.dirname(file), spec)).split(path.sep).join('/');
    return rel === 'functions' || rel.startsWith('functions/');
  });
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? tsFilesUnder(path.join(dir, e.name)) : e.isFile() && e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []))
    .sort();
}

const repoPath = (file: string) => path.relative(ROOT, file).split(path.sep).join('/');

describe('layering', () => {
  it('the import reader sees every form of import of functions/ and nothing in comments or strings', () => {
    const file = path.join(RUNTIME_DIR, 'cli', 'example.ts');
    const source = [
      "import type { HandoffResult } from '../../functions/handoff.ts';",
      "import dflt from '../../functions/sync.ts';",
      "export { default as x } from '../../functions/compact.ts';",
      "type T = import('../../functions/alert-check.ts').Output;",
      "const m = await import('../../functions/leader-heartbeat.ts');",
      "const c = await import(`../../functions/state-update.ts`);",
      "const n = await import(pathToFileURL(path.join(dir, file)).href);",
      "// import { y } from '../../functions/data-quality.ts';",
      "const s = \"import z from '../../functions/storage-probe.ts'\";",
      "import { ok } from '../define.ts';",
      "import { fine } from '../../functions-like/not-it.ts';",
    ].join('\n');
    const found = importsOf(file, source);
    expect(functionsImports(file, found.specifiers)).toEqual([
      '../../functions/handoff.ts',
      '../../functions/sync.ts',
      '../../functions/compact.ts',
      '../../functions/alert-check.ts',
      '../../functions/leader-heartbeat.ts',
      '../../functions/state-update.ts',
    ]);
    expect(found.computed).toBe(1);
  });

  it('no file under runtime/ imports functions/; computed dynamic imports only where listed', () => {
    const files = tsFilesUnder(RUNTIME_DIR);
    expect(files.length).toBeGreaterThan(50);
    const offending: string[] = [];
    const computed: string[] = [];
    for (const file of files) {
      const found = importsOf(file, readFileSync(file, 'utf8'));
      for (const spec of functionsImports(file, found.specifiers)) offending.push(`${repoPath(file)} imports ${spec}`);
      if (found.computed > 0) computed.push(repoPath(file));
    }
    expect(offending, 'runtime/ must not import functions/: move what it needs into runtime/ and import it from there in the duty').toEqual([]);
    expect(computed, 'a computed import(…) under runtime/ must be reviewed (it may load a duty) and listed in COMPUTED_IMPORTS_ALLOWED').toEqual(COMPUTED_IMPORTS_ALLOWED);
  });

  it('every functions/<name>.ts exports a duty named <name>', async () => {
    const files = readdirSync(FUNCTIONS_DIR).filter(isModule).sort();
    expect(files.length).toBeGreaterThan(5);
    const mismatched: string[] = [];
    for (const file of files) {
      const mod = (await import(pathToFileURL(path.join(FUNCTIONS_DIR, file)).href)) as { default?: AnyFunction };
      const expected = file.replace(/\.(ts|mjs|js)$/, '');
      if (mod.default?.name !== expected) mismatched.push(`functions/${file}: name ${JSON.stringify(mod.default?.name)}, expected ${JSON.stringify(expected)}`);
    }
    expect(mismatched).toEqual([]);
  });
});
