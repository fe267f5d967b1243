// bin/source-maps.mjs
// Stack traces through the compiled dist/ name the TypeScript lines, as Node's own source-map support does, but a map is read only when a stack through its file is formatted.

import { readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Why not `process.setSourceMapsEnabled(true)`: Node 20 then reads and parses the `.map` file of
 * every module as it loads (~70 maps for a one-shot command, ~14 ms of its ~250 ms), for stacks
 * that are almost never printed. This installs `Error.prepareStackTrace` instead: a frame in a
 * compiled file under `distDir` (not dist/vendor/, which has no maps) is mapped through that file's
 * `<file>.js.map`, read the first time a stack needs it; every other frame is V8's own text. The
 * text is Node's source-map format (its lib/internal/source_map/prepare_stack_trace.js, Node 20):
 * `at [async |new ][Type.]name (/abs/path/file.ts:line:col)`, the header `Name [ERR_CODE]: message`
 * for Node's own errors. What it does not do: print the .ts line above the stack of an uncaught
 * error (Node prints the compiled line there). A map that cannot be read leaves its frames as they are.
 */
export function mapStacksLazily(distDir) {
  const distUrl = pathToFileURL(path.resolve(distDir) + path.sep).href;
  const vendorUrl = `${distUrl}vendor/`;
  const maps = new Map();

  const mapOf = (fileName) => {
    if (typeof fileName !== 'string') return null;
    const url = fileName.startsWith('file:') ? fileName : path.isAbsolute(fileName) ? pathToFileURL(fileName).href : null;
    if (!url || !url.startsWith(distUrl) || url.startsWith(vendorUrl)) return null;
    if (!maps.has(url)) maps.set(url, readMap(url));
    return maps.get(url);
  };

  Error.prepareStackTrace = (error, trace) => {
    const header = headerOf(error);
    let text = header;
    for (let i = 0; i < trace.length; i++) {
      let line;
      try {
        const map = mapOf(trace[i].getFileName());
        line = map ? mappedFrame(map, trace[i], trace[i + 1]) : null;
      } catch {
        line = null;
      }
      text += `\n    at ${line ?? String(trace[i])}`;
    }
    return text;
  };
}

/** The map next to a compiled file (`x.js` → `x.js.map`), its sources made absolute URLs; null when unreadable. */
function readMap(url) {
  try {
    const mapUrl = `${url}.map`;
    const payload = JSON.parse(readFileSync(fileURLToPath(mapUrl), 'utf8'));
    const root = payload.sourceRoot ? `${payload.sourceRoot.replace(/\/?$/, '/')}` : '';
    payload.sources = (payload.sources ?? []).map((s) => new URL(`${root}${s}`, mapUrl).href);
    return new SourceMap(payload);
  } catch {
    return null;
  }
}

/** `Error.prototype.toString`, with the code of Node's own errors (`TypeError [ERR_INVALID_ARG_TYPE]: …`) as Node prints it. */
function headerOf(error) {
  try {
    if (error !== null && typeof error === 'object' && isNodeError(error)) return `${error.name} [${error.code}]: ${error.message}`;
    return Error.prototype.toString.call(error);
  } catch {
    return '';
  }
}

/** Node marks its own errors with a symbol named kIsNodeError on their prototype chain. */
function isNodeError(error) {
  for (let p = error; p; p = Object.getPrototypeOf(p)) {
    if (Object.getOwnPropertySymbols(p).some((s) => s.description === 'kIsNodeError')) return true;
  }
  return false;
}

/** One frame in TypeScript terms, or null when the map has no entry for its position. */
function mappedFrame(map, site, caller) {
  const entry = map.findEntry(site.getLineNumber() - 1, site.getColumnNumber() - 1);
  if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) return null;
  const source = entry.originalSource.startsWith('file://') ? fileURLToPath(entry.originalSource) : entry.originalSource;
  const prefix = site.isAsync() ? 'async ' : site.isConstructor() ? 'new ' : '';
  const typeName = site.getTypeName();
  const generated = `${typeName !== null && typeName !== 'global' ? `${typeName}.` : ''}${(site.getFunctionName() ?? site.getMethodName()) || '<anonymous>'}`;
  // A name the compiler dropped or changed comes back from the map: the enclosing function's, else the caller's position in the same file.
  let original = map.findEntry(site.getEnclosingLineNumber() - 1, site.getEnclosingColumnNumber() - 1).name;
  if (!original && caller && caller.getFileName() === site.getFileName()) original = map.findEntry(caller.getLineNumber() - 1, caller.getColumnNumber() - 1).name;
  const name = original && original !== generated ? original : generated;
  return `${prefix}${name} (${source}:${entry.originalLine + 1}:${entry.originalColumn + 1})`;
}
