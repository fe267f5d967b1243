// runtime/worker/node-only.ts
// The duties that need a PC (sockets to exchanges, the local write-ahead log, a git checkout): never bundled into the worker.

/** Duty name → why it does not run in a worker; the worker answers them 501 not_available_here. */
export const NODE_ONLY: ReadonlyMap<string, string> = new Map([
  ['collect-tick', 'it keeps exchange connections (ccxt) and appends records to the local write-ahead log; run it on a PC'],
  ['sync', "it uploads a PC's local cache to the primary; a worker has no cache"],
  ['handoff', "it bundles the PC's git checkout, logs and data directory"],
  ['alert-check', "it watches one PC: its streams, cache backlog, free disk, DIAG reasons and the audit events of its own process"],
]);
