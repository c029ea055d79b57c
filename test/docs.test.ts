import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { CLI_DOC, CONFIG_DOC, cliReference, configTable } from '../scripts/docs.js';
import { buildProgram } from '../src/cli/program.js';
import { FIELDS } from '../src/config/schema.js';
import { ROOT } from './helpers.js';

/** The Markdown files a reader can reach from the README. */
const DOC_FILES = ['README.md', 'bench/RESULTS.md', ...fs.readdirSync(path.join(ROOT, 'docs')).map((f) => `docs/${f}`)];

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const m = !fenced && /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every relative link of `file` (its text given) that names a missing file or a heading its target lacks. */
function brokenLinks(file: string, text: string, read: (f: string) => string | null): string[] {
  const broken: string[] = [];
  const prose = text.replace(/```[\s\S]*?```/g, '');
  for (const m of prose.matchAll(/\]\(([^)\s]+)\)/g)) {
    const link = m[1]!;
    if (/^[a-z]+:/.test(link)) continue; // https:, mailto:
    const [target, anchor] = link.split('#') as [string, string | undefined];
    const resolved = target === '' ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), target));
    const body = read(resolved);
    if (body === null) broken.push(`${file}: ${link} (no file ${resolved})`);
    else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(body).has(anchor))
      broken.push(`${file}: ${link} (no heading #${anchor} in ${resolved})`);
  }
  return broken;
}

function readDoc(rel: string): string | null {
  const file = path.join(ROOT, rel);
  if (!fs.existsSync(file)) return null;
  return fs.statSync(file).isDirectory() ? '' : fs.readFileSync(file, 'utf8');
}

test('every relative link in the README, docs/ and the results resolves to a file and a heading in it', () => {
  // The checker itself finds a missing file, a missing heading and a link to the right heading.
  const planted = { 'docs/a.md': '# A title\n\n## Presets (`configs/`)\n', 'docs/b.md': '' };
  const fake = (f: string): string | null => planted[f as keyof typeof planted] ?? null;
  const text = '[ok](a.md#presets-configs) [self](#a-title) [gone](c.md) [bad](a.md#nothing) [web](https://x.org/y)';
  assert.deepEqual(brokenLinks('docs/a.md', text, fake), [
    'docs/a.md: c.md (no file docs/c.md)',
    'docs/a.md: a.md#nothing (no heading #nothing in docs/a.md)',
  ]);
  const broken = DOC_FILES.flatMap((f) => brokenLinks(f, readDoc(f)!, readDoc));
  assert.deepEqual(broken, []);
});

test('the README is the front door: two one-line set-up commands, a map to every page in docs/, short', () => {
  const readme = readDoc('README.md')!;
  const lines = readme.split('\n');
  assert.ok(lines.length <= 200, `README.md has ${lines.length} lines; details belong in docs/`);
  const quick = /## Quick start\n\n```sh\n([^`]*)```/.exec(readme);
  assert.ok(quick, 'a Quick start section with a shell block');
  const commands = quick[1]!.trim().split('\n');
  assert.equal(commands.length, 2);
  assert.match(commands[0]!, /^npm install && npm start +#/);
  assert.match(commands[1]!, /^npm install && npm test +#/);
  for (const f of fs.readdirSync(path.join(ROOT, 'docs')))
    assert.ok(readme.includes(`](docs/${f})`), `docs/${f} is linked from the README's documentation map`);
});

test('docs/cli.md is the reference generated from the program (npm run docs), with every command and flag', () => {
  const doc = fs.readFileSync(CLI_DOC, 'utf8');
  assert.equal(doc, cliReference(), 'docs/cli.md is stale: run `npm run docs`');
  for (const cmd of buildProgram().commands) {
    assert.ok(doc.includes(`## \`ae ${cmd.name()}\``), cmd.name());
    for (const o of cmd.options) assert.ok(o.long && doc.includes(o.long), `${cmd.name()} ${o.long}`);
  }
});

test('the config table in docs/config.md is the one generated from the schema (npm run docs)', () => {
  const doc = fs.readFileSync(CONFIG_DOC, 'utf8');
  assert.ok(doc.includes(configTable()), 'docs/config.md config table is stale: run `npm run docs`');
  for (const f of FIELDS) assert.ok(doc.includes(`| \`${f.key}\` |`), f.key);
});
