// test/handoff-zip.test.ts
// The fast paths of a bundle against the slow ones they replace: the zip writer, the file list's YAML, JSON config files, the masker's pattern hints.

import { randomBytes } from 'node:crypto';
import JSZip from 'jszip';
import { parse as parseYaml, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { secretsInConfigFile } from '../runtime/handoff/file-secrets.ts';
import { repoStructure, repoStructureYaml } from '../runtime/handoff/sections.ts';
import { openZip } from '../runtime/handoff/unzip.ts';
import { createZipWriter } from '../runtime/handoff/zip-writer.ts';
import { createMasker, MASK, patternsFor, SECRET_PATTERNS } from '../runtime/secrets.ts';

describe('zip writer', () => {
  const entries: Array<[string, Buffer]> = [
    ['repo/a.ts', Buffer.from('// a.ts\n// first\nexport const a = 1;\n'.repeat(20))],
    ['repo/empty.txt', Buffer.alloc(0)],
    ['repo/ユニコード/名前.md', Buffer.from('# 見出し\n')],
    // Over the synchronous-deflate size, and incompressible: the thread-pool path.
    ['repo/big.bin', randomBytes(300 << 10)],
    ['SHA256SUMS', Buffer.from('x  repo/a.ts\n')],
  ];
  const write = async (mtimeMs: number) => {
    const zip = createZipWriter(mtimeMs);
    await Promise.all(entries.map(([name, body]) => zip.add(name, body)));
    return zip.finish();
  };

  it('keeps the order of the calls and every byte, read back by the bounded reader and by jszip', async () => {
    const bytes = await write(Date.UTC(2026, 0, 2, 9, 5));
    const reader = await openZip(bytes);
    expect(reader.entries.map((e) => e.name)).toEqual(entries.map(([name]) => name));
    for (const [name, body] of entries) expect((await reader.read(name)).equals(body), name).toBe(true);
    const other = await JSZip.loadAsync(bytes);
    for (const [name, body] of entries) expect((await other.file(name)!.async('nodebuffer')).equals(body), name).toBe(true);
  });

  it('refuses a name a zip header cannot hold, naming its size, and writes nothing for it', async () => {
    const zip = createZipWriter(Date.UTC(2026, 0, 2));
    await zip.add('repo/a.ts', entries[0]![1]);
    expect(() => zip.add('x'.repeat(0x10000), Buffer.from('y'))).toThrow(/entry name of 65536 bytes \(limit 65535\)/);
    const reader = await openZip(await zip.finish());
    expect(reader.entries.map((e) => e.name)).toEqual(['repo/a.ts']);
  });

  it('is a function of the entries and the time; a time a zip header cannot hold is clamped, not refused', async () => {
    expect((await write(Date.UTC(2026, 0, 2))).equals(await write(Date.UTC(2026, 0, 2)))).toBe(true);
    const epoch = await write(0);
    expect((await (await openZip(epoch)).read('repo/a.ts')).equals(entries[0]![1])).toBe(true);
  });
});

describe('repo_structure.yaml', () => {
  const file = (path: string, header: string[], included = true) => ({ path, bytes: path.length * 7, included, header });
  const files = [
    file('bin/tool.mjs', ['// bin/tool.mjs', '// A tool, with (parentheses) and it\'s quote']),
    file('docs/a: b.md', ['# a: b', '<!-- comment -->']),
    file('- dash.ts', ['-- sql comment', '; ini']),
    file('true', []),
    file('src/trailing .ts', ['// ends with space ', '//']),
    file('src/ユニコード.ts', ['// 日本語の説明']),
    file('src/#hash.ts', ['/* block */', '* star'], false),
    file('src/quote".ts', ['// "quoted" text', "// 'single'"]),
    file('src/tab\t.ts', ['// --- x', '// ...']),
    file('yes', ['// null', '// 1.0']),
  ];

  it('is byte for byte what the yaml library writes, for plain and awkward strings alike', () => {
    for (const note of [null, 'x is not a git checkout: no repository file is bundled']) {
      expect(repoStructureYaml(files, note)).toBe(stringify(repoStructure(files, note), { lineWidth: 0 }));
      expect(repoStructureYaml([], note)).toBe(stringify(repoStructure([], note), { lineWidth: 0 }));
    }
    expect(parseYaml(repoStructureYaml(files)).files).toEqual(files.map(({ path, bytes, included, header }) => ({ path, bytes, included, header })));
  });
});

describe('JSON config files', () => {
  it('read with JSON.parse give the values the YAML parser gives; a file that is not strict JSON still goes through YAML', () => {
    const docs = [
      { webhookUrl: 'https://hooks.example.net/abcdefgh', nested: { apiKey: 'abcdefgh1234', list: [{ password: 'p4ssword-long' }] } },
      { packages: { 'node_modules/@aws-sdk/credential-provider-env': { version: '3.972.84' } }, token: 12345678, credentials: { a: 'value-one-1', b: ['value-two-2'] } },
      ['not', { secret: 'an-array-root-1' }],
    ];
    for (const doc of docs) {
      const text = JSON.stringify(doc, null, 2);
      expect(secretsInConfigFile('x.json', text).sort()).toEqual(secretsInConfigFile('x.yaml', text).sort());
    }
    expect(secretsInConfigFile('x.json', '# a comment makes it YAML\npassword: yaml-only-value\n')).toEqual(['yaml-only-value']);
  });
});

describe('masker pattern hints', () => {
  it('every secret pattern has a hint, and a text without the words is left to the secret values alone', () => {
    expect(patternsFor('')).toEqual([]);
    expect(patternsFor('export const x = 1;')).toEqual([]);
    const custom = /custom-[0-9]+/g;
    expect(patternsFor('', [custom])).toEqual([custom]);
  });

  it('masks exactly what every pattern on every text masks', () => {
    const samples = [
      'https://user:hunter2pass@example.net/x and HTTPS://U:P4ssword@EXAMPLE.NET/',
      'Authorization: Bearer abcdefgh12345678 / bearer lowercase-ignored-by-pattern',
      'AKIAABCDEFGHIJKLMNOP ASIAABCDEFGHIJKLMNOP akiaabcdefghijklmnop',
      'https://hooks.slack.com/services/T000/B000/XXXX and HOOKS.SLACK.COM/SERVICES/T1/B1/Y',
      'https://discord.com/api/webhooks/123/abc https://discordapp.com/api/webhooks/9/z',
      'API_TOKEN=abcd1234 password: "s3cr3tvalue" Secret_Key=QQQQQQQQ access-key=zzzz9999 PASSWD=qwerty12',
      'plain source code without any of the words',
      // Upper-case letters that lower-case to ASCII only outside the ASCII range: no pattern takes them for the word.
      'TO\u212AEN=abcd1234efgh \u017Fecret=abcdefgh1234 PASSW\u212AORD=zzzz',
      `${'x'.repeat(5000)} token=${'y'.repeat(40)}`,
    ];
    const masker = createMasker({});
    for (const text of samples) {
      let naive = text;
      for (const p of SECRET_PATTERNS) naive = naive.replace(p, MASK);
      expect(masker.text(text), text.slice(0, 40)).toBe(naive);
    }
  });
});
