// test/handoff-zip.test.ts
// The fast paths of a bundle against the slow ones they replace: the zip writer, the file list's YAML, JSON config files, the masker's pattern hints.

import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import JSZip from 'jszip';
import yauzl from 'yauzl';
import { parse as parseYaml, stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { secretsInConfigFile } from '../runtime/handoff/file-secrets.ts';
import { repoStructure, repoStructureYaml } from '../runtime/handoff/sections.ts';
import { openZip } from '../runtime/handoff/unzip.ts';
import { createZipWriter, smallDeflater } from '../runtime/handoff/zip-writer.ts';
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

  it('stamps every entry with the time in local MS-DOS form (2 s steps), clamped to 1980-2099', async () => {
    const datesOf = (bytes: Buffer) =>
      new Promise<Date[]>((resolve, reject) =>
        yauzl.fromBuffer(bytes, { lazyEntries: false }, (err, zip) => {
          if (err) return reject(err);
          const dates: Date[] = [];
          zip.on('entry', (entry: yauzl.Entry) => dates.push(entry.getLastModDate()));
          zip.on('end', () => resolve(dates));
        }),
      );
    const at = new Date(2026, 0, 2, 9, 5, 37, 900).getTime();
    expect((await datesOf(await write(at))).map((d) => d.getTime())).toEqual(entries.map(() => new Date(2026, 0, 2, 9, 5, 36).getTime()));
    expect((await datesOf(await write(Date.UTC(1970, 0, 1))))[0]!.getTime()).toBe(new Date(1980, 0, 1, 12).getTime());
    expect((await datesOf(await write(Date.UTC(2200, 0, 1))))[0]!.getTime()).toBe(new Date(2099, 11, 31, 12).getTime());
  });

  it('a placement that fails in the queue (past 65,535 entries, behind a big entry) rejects its add and fails finish()', { timeout: 60_000 }, async () => {
    const zip = createZipWriter(Date.UTC(2026, 0, 2));
    const big = zip.add('big.bin', randomBytes(300 << 10)); // compresses in the thread pool: every later entry queues
    const small = Buffer.from('x');
    const adds: Array<number | Promise<number>> = [];
    for (let i = 0; i < 0xffff; i++) adds.push(zip.add(`f${i}`, small));
    await expect(big).resolves.toBeGreaterThan(0);
    await expect(Promise.all(adds)).rejects.toThrow(/more than 65535 entries/);
    await expect(zip.finish()).rejects.toThrow(/more than 65535 entries/);
  });

  it('is a function of the entries and the time; a time a zip header cannot hold is clamped, not refused', async () => {
    expect((await write(Date.UTC(2026, 0, 2))).equals(await write(Date.UTC(2026, 0, 2)))).toBe(true);
    const epoch = await write(0);
    expect((await (await openZip(epoch)).read('repo/a.ts')).equals(entries[0]![1])).toBe(true);
  });
});

describe('small-entry deflate', () => {
  // Text of many sizes, an empty body, and incompressible bytes whose deflated form outgrows the first output buffer (64 KiB).
  const bodies = [
    Buffer.alloc(0),
    Buffer.from('x'),
    ...[10, 300, 5_000, 70_000].map((n) => Buffer.from('// line of a source file with some words\nexport const v = 1;\n'.repeat(n / 40 + 1).slice(0, n))),
    randomBytes(100 << 10),
    randomBytes(256 << 10),
    Buffer.from('after the big ones, the state is reset: '.repeat(30)),
  ];

  it.each([true, false])("gives byte for byte what zlib.deflateRawSync gives, one state for every body (zlib's handle: %s)", (internals) => {
    const deflater = smallDeflater({ internals });
    // This Node has the internals the fast path drives: a Node without them would pass through the fallback unnoticed.
    expect(deflater.native).toBe(internals);
    try {
      for (const body of bodies) {
        const deflated = Buffer.from(deflater.deflate(body));
        expect(deflated.equals(zlib.deflateRawSync(body, { level: 6 })), `${body.length} bytes`).toBe(true);
        expect(zlib.inflateRawSync(deflated).equals(body)).toBe(true);
      }
    } finally {
      deflater.close();
    }
  });

  it('after close, a deflate throws instead of reaching freed zlib state (which would abort the process)', () => {
    const deflater = smallDeflater();
    deflater.deflate(Buffer.from('before'));
    deflater.close();
    expect(() => deflater.deflate(Buffer.from('after'))).toThrow();
  });

  it('an entry queued behind a big one keeps its own bytes, not the reused output buffer', async () => {
    const zip = createZipWriter(Date.UTC(2026, 0, 2));
    const small = ['first small', 'second small'].map((t) => Buffer.from(t.repeat(50)));
    const adds = [zip.add('big.bin', randomBytes(300 << 10)), zip.add('a.txt', small[0]!), zip.add('b.txt', small[1]!)];
    await Promise.all(adds);
    const reader = await openZip(await zip.finish());
    expect((await reader.read('a.txt')).equals(small[0]!)).toBe(true);
    expect((await reader.read('b.txt')).equals(small[1]!)).toBe(true);
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
    file('.ci/run', ['# .ci/run', '# CI entry point: a clean install, then the README test command.']),
    file('runtime/x.ts', ["// The bucket layout as code (docs CONTRACT \"Objects\").", '// `runtime sync` says "would copy"; it\'s: fine — really']),
    file('%percent', ['---', '...', '--- x', '- item', '? key', ': value', '@at', '`tick', '!tag', '&anchor', '*alias', '|pipe', '>fold']),
    file('{brace}', ['[bracket]', '~', 'null', 'Null', 'NO', 'y', '1e3', '0x10', '0o7', '.5', '-1', '+1', '.inf', '-.nan', '2026-11-30', '12:30:00']),
    file('back\\slash', ['x #y', 'x: y', 'x:y', ' lead', 'trail ', '', '\ttab', 'a\u0085b', 'bell\u0007', 'line\u2028sep', 'emoji 🙂', 'ASCII only']),
    file('multi', ['first\nsecond']),
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

  it('a text the hints rule out holds no match of any pattern: every rule\'s words in mixed case and with look-alike letters', () => {
    // Deterministic pseudo-random (a fixed LCG): the same texts on every run.
    let seed = 42;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const LOOK_ALIKES: Record<string, string[]> = { k: ['\u212A'], s: ['\u017F'], i: ['\u0130', '\u0131'], a: ['\u0430'], e: ['\u0435'] };
    const vary = (word: string) =>
      [...word]
        .map((ch) => {
          const alike = LOOK_ALIKES[ch.toLowerCase()];
          if (alike && next() < 0.2) return alike[Math.floor(next() * alike.length)]!;
          return next() < 0.5 ? ch.toUpperCase() : ch.toLowerCase();
        })
        .join('');
    const words = ['token', 'secret', 'password', 'passwd', 'api_key', 'apikey', 'api-key', 'access_key', 'secret_key', 'bearer', 'akia', 'asia', 'discord', 'discordapp.com/api/webhooks/', 'hooks.slack.com/services/', '://'];
    const contexts = [(w: string) => `MY_${w}=abcdefgh1234`, (w: string) => `${w}: "s3cr3tvalue"`, (w: string) => `Authorization: ${w} abcdefgh12345678`, (w: string) => `${w}ABCDEFGHIJKLMNOP`, (w: string) => `https://user:pa55${w}word@example.net/`, (w: string) => `https://${w}123/abc_DEF-ghi`, (w: string) => `x_${w} \t= 'quoted1234'`, (w: string) => `${w}  :\tunquoted5678`, (w: string) => `${w} is named, not set: ${w}`, (w: string) => `ftp://a${w}:b${w}@host`];
    let ruledOut = 0;
    for (let round = 0; round < 40; round++) {
      for (const word of words) {
        for (const context of contexts) {
          const text = context(vary(word));
          if (patternsFor(text).length > 0) continue;
          ruledOut++;
          for (const pattern of SECRET_PATTERNS) expect([...text.matchAll(new RegExp(pattern.source, pattern.flags))], `${pattern} on ${text}`).toEqual([]);
        }
      }
    }
    expect(ruledOut).toBeGreaterThan(100); // the look-alikes do rule texts out: the property is exercised
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
