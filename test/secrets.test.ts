// test/secrets.test.ts
// Secret values never reach the log file or the audit trail, wherever they hide in a message.

import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { AuditLog } from '../runtime/audit.ts';
import { manualClock } from '../runtime/clock.ts';
import { createLogger, LOG_FILE } from '../runtime/logger.ts';
import { commandSecretValues, configSecretValues, createMasker } from '../runtime/secrets.ts';
import { recordAny } from './helpers/audit-any.ts';

const SECRET = 'minio-secret-key-0123456789';
const TOKEN = 'api-token-abcdefghij';

it('masks secret values in logs and audit events', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-secrets-'));
  const masker = createMasker({ BTC_TS_S3_SECRET_KEY: SECRET, BTC_TS_API_TOKEN: TOKEN });
  const log = createLogger({ logsDir: dir, masker, level: 'info', consoleFd: 2 });
  log.info({ url: `http://user:${SECRET}@nas:9000`, nested: { header: `Bearer ${TOKEN}` } }, `connecting with ${SECRET}`);
  log.error(new Error(`S3 said: bad signature for ${SECRET}`), 'failed');
  // The file stream opens and writes asynchronously (pino's flush does not wait for a multistream):
  // wait until both lines are on disk, then check them.
  const file = path.join(dir, LOG_FILE);
  const read = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  for (let waited = 0; read().split('\n').filter(Boolean).length < 2 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  const text = read();
  expect(text).toContain('connecting with ***');
  expect(text).toContain('bad signature for ***');
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(TOKEN);

  const audit = new AuditLog({ walDir: path.join(dir, 'wal'), host: 'h', actor: 'a', site: 's', clock: manualClock(), masker, log });
  await recordAny(audit, 'test.event', { reason: `token ${TOKEN} rejected`, deep: [{ s: SECRET }] });
  const walFiles = readdirSync(path.join(dir, 'wal', 'audit'));
  const walText = walFiles.filter((f) => f.endsWith('.jsonl')).map((f) => readFileSync(path.join(dir, 'wal', 'audit', f), 'utf8')).join('');
  expect(walText).toContain('token *** rejected');
  expect(walText).not.toContain(SECRET);
  expect(walText).not.toContain(TOKEN);
});

it('finds the secret parts of an upload command: NAME=value, --secret-option value, -u user:password, secret-shaped strings', () => {
  const command = "UPLOAD_PASSWORD=Hunt3r2-pw sh -c 'x'; rclone copy . nas: --ftp-pass 'ftp-s3cret' --sftp-key-file=/k/id --port 22 -u bob:b0b-pw && curl https://u:urlpw123@h/ -H 'Authorization: Bearer abcdefgh12345'; mkdir -p /srv/out";
  expect(commandSecretValues(command).sort()).toEqual(['Hunt3r2-pw', 'abcdefgh12345', 'b0b-pw', 'ftp-s3cret', 'urlpw123'].sort());
  const config = { alerts: { webhookUrls: [] }, dashboard: { uploadCommand: command } } as unknown as Parameters<typeof configSecretValues>[0];
  expect(configSecretValues(config)).toEqual([command, ...commandSecretValues(command)]);
});

it('masks a secret holding " or \\ in its JSON-serialised form too (log lines, audit payloads, value())', async () => {
  const tricky = 'pa"ss\\word-0123456789';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'btc-ts-secrets-json-'));
  const masker = createMasker({ BTC_TS_S3_SECRET_KEY: tricky });
  expect(JSON.stringify(masker.value({ nested: { s: `x ${tricky} y` } }))).toBe('{"nested":{"s":"x *** y"}}');
  const log = createLogger({ logsDir: dir, masker, level: 'info', consoleFd: 2 });
  log.info({ field: tricky }, `message ${tricky}`);
  const file = path.join(dir, LOG_FILE);
  const read = () => (existsSync(file) ? readFileSync(file, 'utf8') : '');
  for (let waited = 0; !read().includes('\n') && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
  const line = read();
  expect(JSON.parse(line.split('\n')[0]!)).toMatchObject({ field: '***', msg: 'message ***' });
  expect(line).not.toContain(JSON.stringify(tricky).slice(1, -1));
  expect(line).not.toContain('0123456789');

  const audit = new AuditLog({ walDir: path.join(dir, 'wal'), host: 'h', actor: 'a', site: 's', clock: manualClock(), masker, log });
  await recordAny(audit, 'test.event', { reason: tricky });
  const walText = readdirSync(path.join(dir, 'wal', 'audit'))
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => readFileSync(path.join(dir, 'wal', 'audit', f), 'utf8'))
    .join('');
  expect(walText).toContain('"reason":"***"');
  expect(walText).not.toContain('0123456789');
});
