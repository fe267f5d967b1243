// runtime/lake/incident.ts
// Incident replay folders (seed 003): incidents/<id>/incident.json, replay_params.json, replay_notes.md and the exported window under artifacts/.

import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { BtcError, isBtcError } from '../errors.ts';
import type { ObjectStore } from '../store/types.ts';
import { makeScratch, openDuck, removeScratch } from './duck.ts';
import { streamName, type StreamRef } from './layout.ts';
import { discoverStreams, exportTable, loadWindow, type Window } from './read.ts';
import { incidentArtifactKey, incidentDocKey, incidentKey } from '../keys.ts';

export interface IncidentDoc {
  id: string;
  from: string;
  to: string;
  created_at: string;
  host: string;
  actor: string;
  streams: Array<{ stream: string; rows: number; artifact: string | null }>;
}

const INCIDENT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$/;

/**
 * Writes the incident folder; incident.json last and create-only, so an existing incident id is
 * refused (Conflict) and a crash leaves no incident.json (the folder is simply made again).
 * Artifacts: one Parquet file per stream with rows in the window.
 */
export async function makeIncident(options: { store: ObjectStore; scratchRoot: string; id: string; window: Window; streams: StreamRef[]; host: string; actor: string; now: number }): Promise<{ incident: IncidentDoc; keys: string[] }> {
  const { store, id, window } = options;
  if (!INCIDENT_ID.test(id)) throw new BtcError('InvalidInput', `incident id: letters, digits, . _ - (up to 80), got ${JSON.stringify(id)}`);
  if (await store.head(incidentDocKey(id))) throw new BtcError('Conflict', `incident ${id} exists (${incidentDocKey(id)})`);
  const scratch = await makeScratch(options.scratchRoot, 'incident');
  const duck = await openDuck({ scratchDir: scratch });
  const keys: string[] = [];
  try {
    const streams = options.streams.length ? options.streams : await discoverStreams(store);
    await loadWindow(duck, store, scratch, window, streams);
    const doc: IncidentDoc = { id, from: new Date(window.from).toISOString(), to: new Date(window.to).toISOString(), created_at: new Date(options.now).toISOString(), host: options.host, actor: options.actor, streams: [] };
    for (const s of streams) {
      const file = path.join(scratch, `${s.exchange}-${s.topic}-${s.symbol}.parquet`);
      const rows = await exportTable(duck, s, 'parquet', file);
      let artifact: string | null = null;
      if (rows > 0) {
        artifact = incidentArtifactKey(id, `${s.exchange}-${s.topic}-${s.symbol}.parquet`);
        await store.put(artifact, await fsp.readFile(file), { contentType: 'application/vnd.apache.parquet' });
        keys.push(artifact);
      }
      doc.streams.push({ stream: streamName(s), rows, artifact });
    }
    const params = { from: window.from, to: window.to, from_iso: doc.from, to_iso: doc.to, streams: doc.streams.map((s) => s.stream), replay: 'runtime export --stream <stream> --from <from> --to <to> --format parquet --out <file>' };
    await store.put(incidentKey(id, 'replay_params.json'), JSON.stringify(params, null, 2), { contentType: 'application/json' });
    keys.push(incidentKey(id, 'replay_params.json'));
    const notes = `# Incident ${id}\n\nWindow: ${doc.from} – ${doc.to}\n\nStreams: ${doc.streams.map((s) => `${s.stream} (${s.rows} rows)`).join(', ') || 'none'}\n\n## Summary\n\n_What happened, in two lines._\n\n## Findings\n\n- \n\n## Actions\n\n- [ ] \n`;
    await store.put(incidentKey(id, 'replay_notes.md'), notes, { contentType: 'text/markdown' });
    keys.push(incidentKey(id, 'replay_notes.md'));
    try {
      await store.put(incidentDocKey(id), JSON.stringify(doc, null, 2), { ifNoneMatch: '*', contentType: 'application/json' });
    } catch (err) {
      if (isBtcError(err, 'PreconditionFailed')) throw new BtcError('Conflict', `incident ${id} was made at the same time elsewhere`);
      throw err;
    }
    keys.push(incidentDocKey(id));
    return { incident: doc, keys };
  } finally {
    duck.close();
    await removeScratch(scratch);
  }
}
