// runtime/lake/duck.ts
// One embedded DuckDB per data command (compact, query, export): bounded threads and memory, spill files in the scratch directory.

import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DuckDBConnection, DuckDBResultReader } from '@duckdb/node-api';
import { sqlString } from './layout.ts';

export interface Duck {
  conn: DuckDBConnection;
  /** Runs SQL and returns its rows as plain objects (BIGINT → number when safe, else string). */
  rows<T = Record<string, unknown>>(sql: string): Promise<T[]>;
  run(sql: string): Promise<void>;
  close(): void;
}

export interface DuckOptions {
  /** Scratch directory for DuckDB spill files (removed by the caller). */
  scratchDir: string;
  /** Worker threads (default: the CPU count, at most 4). */
  threads?: number;
  /** DuckDB memory limit, e.g. `128MB` (default; measured peak RSS of the compacting process 486–504 MB over the 10M-record bench day, docs/data.md; 96MB runs the JSON reader out of memory). Larger sorts and tables spill to the scratch directory. */
  memoryLimit?: string;
}

/** Opens an in-memory DuckDB. Source: https://duckdb.org/docs/stable/configuration/overview (threads, memory_limit, temp_directory). */
export async function openDuck(options: DuckOptions): Promise<Duck> {
  const threads = options.threads ?? Math.max(1, Math.min(4, os.availableParallelism()));
  // Loaded on first use: a runtime that never compacts or queries never maps the native library.
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:', {
    threads: String(threads),
    memory_limit: options.memoryLimit ?? '128MB',
    temp_directory: path.join(options.scratchDir, 'duckdb-spill'),
    // Parquet rows are ordered by an explicit ORDER BY; insertion order elsewhere does not matter.
    preserve_insertion_order: 'false',
  });
  const conn = await instance.connect();
  await conn.run(`SET TimeZone = 'UTC'`);
  return {
    conn,
    async rows<T>(sql: string) {
      return plainRows(await conn.runAndReadAll(sql)) as T[];
    },
    async run(sql: string) {
      await conn.run(sql);
    },
    close() {
      conn.closeSync();
      instance.closeSync();
    },
  };
}

/** A result's rows as plain JSON-ready objects (see plainValue). */
export function plainRows(reader: DuckDBResultReader): Array<Record<string, unknown>> {
  const json = reader.getRowObjectsJson();
  return reader.getRowObjects().map((row, i) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) out[k] = plainValue(v, json[i]![k]);
    return out;
  });
}

/** BIGINT → number when it is a safe integer; DuckDB value objects (lists, structs, decimals) → their JSON form. */
function plainValue(v: unknown, json: unknown): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v !== null && typeof v === 'object') return json;
  return v;
}

/** A fresh scratch directory under `root` (created); remove it with removeScratch. */
export async function makeScratch(root: string, label: string): Promise<string> {
  await fsp.mkdir(root, { recursive: true });
  return fsp.mkdtemp(path.join(root, `${label}-`));
}

export async function removeScratch(dir: string): Promise<void> {
  await fsp.rm(dir, { recursive: true, force: true });
}

/** read_json over local JSONL files with explicit columns (no sampling, no type guessing). */
export function readJsonSql(files: string[], dataType: string): string {
  const list = `[${files.map(sqlString).join(', ')}]`;
  return `read_json(${list}, format = 'newline_delimited', columns = {ts: 'BIGINT', ingest_ts: 'BIGINT', epoch: 'BIGINT', seq: 'BIGINT', data: ${sqlString(dataType)}})`;
}
