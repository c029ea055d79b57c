import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT } from './helpers.js';

/**
 * The pipeline's stages, lowest first. A module may import from its own stage or from stages below it, never
 * from one above: data does not know about models, models not about training, evaluation not about training.
 */
const STAGES = [
  'errors.ts',
  'util',
  // What each model type declares about itself (src/models/spec.ts, specs.ts and every model folder's spec.ts):
  // pure facts the config reads, so they sit below it and may import nothing that computes.
  'model specs',
  'config',
  'accel',
  'backend',
  'data',
  'models',
  'checkpoint',
  'train',
  'embed',
  'render',
  'evaluate',
  'use',
  'exchange',
  'view',
  'cli',
  'cli.ts',
  'index.ts',
];

function sourceFiles(dir: string): string[] {
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f));
}

/** The relative imports of a file (static, dynamic, type-only and re-exports alike), resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => path.resolve(path.dirname(file), s.replace(/\.js$/, '.ts')));
}

/** A model spec file: src/models/spec.ts, src/models/specs.ts or src/models/<folder>/spec.ts. */
const isModelSpec = (rel: string): boolean => /^models\/(?:[\w-]+\/)?specs?\.ts$/.test(rel.split(path.sep).join('/'));

const stageOf = (file: string): number => {
  const rel = path.relative(path.join(ROOT, 'src'), file);
  const name = isModelSpec(rel) ? 'model specs' : rel.includes(path.sep) ? rel.split(path.sep)[0]! : rel;
  const stage = STAGES.indexOf(name);
  assert.ok(stage >= 0, `${rel} belongs to no stage; add its folder to STAGES`);
  return stage;
};

const src = sourceFiles(path.join(ROOT, 'src'));
const graph = new Map(src.map((f) => [f, importsOf(f)]));

test('imports flow one way: no module imports from a later pipeline stage', () => {
  const upward: string[] = [];
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      assert.ok(fs.existsSync(dep), `${file} imports ${dep}, which does not exist`);
      if (stageOf(dep) > stageOf(file)) upward.push(`${path.relative(ROOT, file)} -> ${path.relative(ROOT, dep)}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('evaluation, maps and pictures stand beside training, not on it: none of them imports src/train/', () => {
  const train = path.join(ROOT, 'src', 'train') + path.sep;
  const offenders = [...graph]
    .filter(([file]) =>
      ['evaluate', 'embed', 'render', 'use'].some((stage) => file.includes(`${path.sep}src${path.sep}${stage}${path.sep}`)),
    )
    .filter(([, deps]) => deps.some((d) => d.startsWith(train)))
    .map(([file]) => path.relative(ROOT, file));
  assert.deepEqual(offenders, []);
});

test('the module graph has no import circle (type-only imports included)', () => {
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[] = [];
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      circles.push([...trail.slice(trail.indexOf(file)), file].map((f) => path.relative(ROOT, f)).join(' -> '));
      return;
    }
    state.set(file, 'open');
    for (const dep of graph.get(file) ?? []) visit(dep, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(circles, []);
});

test('only src/accel/ loads or calls the native addon, or names one of our kernels', () => {
  const outside = src.filter((f) => !f.includes(`${path.sep}accel${path.sep}`));
  for (const file of outside) {
    const text = fs.readFileSync(file, 'utf8');
    assert.ok(
      !/ae_native|accel\/addon\.js|createRequire\([^)]*\)\(['"].*\.node/.test(text),
      `${path.relative(ROOT, file)} reaches for the addon`,
    );
    assert.ok(!/'Ae[A-Z]\w+'|runKernel\(/.test(text), `${path.relative(ROOT, file)} names a kernel`);
  }
  // And the guard itself can fail: the accel folder does reach for the addon.
  assert.ok(src.some((f) => f.includes(`${path.sep}accel${path.sep}`) && /ae_native/.test(fs.readFileSync(f, 'utf8'))));
});

test('no source file is over 400 lines (TypeScript and native)', () => {
  const native = fs.readdirSync(path.join(ROOT, 'native')).map((f) => path.join(ROOT, 'native', f));
  const long = [...src, ...native]
    .map((f) => ({ file: path.relative(ROOT, f), lines: fs.readFileSync(f, 'utf8').split('\n').length }))
    .filter((f) => f.lines > 400);
  assert.deepEqual(long, []);
});

/** The model type names, read from the registry itself (so a new type is covered without editing this test). */
const MODEL_KINDS = [
  ...fs
    .readFileSync(path.join(ROOT, 'src', 'models', 'specs.ts'), 'utf8')
    .matchAll(/import \{ (\w+Spec) \} from '\.\/([\w-]+)\/spec\.js'/g),
].map(([, , folder]) => {
  const spec = fs.readFileSync(path.join(ROOT, 'src', 'models', folder!, 'spec.ts'), 'utf8');
  return spec.match(/kind: '(\w+)'/)![1]!;
});

/** Lines under src/ outside src/models/ that name a model type as a string (to switch on it, or list it). */
function modelTypeNamedOutsideModels(files: Array<{ file: string; text: string }>): string[] {
  const names = MODEL_KINDS.join('|');
  const literal = new RegExp(`['"\`](?:${names})['"\`]`);
  return files
    .filter(({ file }) => !file.startsWith(`src${path.sep}models${path.sep}`))
    .flatMap(({ file, text }) =>
      text
        .split('\n')
        .map((line, i) => ({ line, i }))
        .filter(({ line }) => literal.test(line))
        .map(({ line, i }) => `${file}:${i + 1}: ${line.trim()}`),
    );
}

test('a model type is named only in its own folder: every other module asks the registry (src/models/specs.ts, registry.ts)', () => {
  assert.deepEqual([...MODEL_KINDS].sort(), ['AE', 'BottleneckCAE', 'CAE', 'ConvVAE', 'VAE']);
  const files = src.map((f) => ({ file: path.relative(ROOT, f), text: fs.readFileSync(f, 'utf8') }));
  assert.deepEqual(modelTypeNamedOutsideModels(files), []);
  // The check bites: a switch on a type name in an evaluation module is found.
  const planted = [{ file: path.join('src', 'evaluate', 'x.ts'), text: "const n = model.kind === 'CAE' ? 50 : 500;" }];
  assert.equal(modelTypeNamedOutsideModels(planted).length, 1);
  const planted2 = [{ file: path.join('src', 'config', 'x.ts'), text: "z.enum(['AE', 'CAE'])" }];
  assert.equal(modelTypeNamedOutsideModels(planted2).length, 1);
});

/** The string literals of TypeScript source (quoted and template text; comments and regular expressions skipped). */
function stringLiterals(text: string): Array<{ value: string; line: number }> {
  const out: Array<{ value: string; line: number }> = [];
  const n = text.length;
  // Each open template literal keeps the brace depth at which its current `${` was opened.
  const templates: number[] = [];
  let depth = 0;
  let last = ''; // the last non-space character of code, to tell a regular expression from a division
  const lineAt = (i: number) => text.slice(0, i).split('\n').length;
  /**
   * From i (just after an opening backquote or a closing `}`), the template text up to its end or its next `${`;
   * returns the index of the last character consumed (the closing backquote, or the `{`).
   */
  const templateText = (i: number): number => {
    let j = i;
    while (j < n && text[j] !== '`' && !(text[j] === '$' && text[j + 1] === '{')) j += text[j] === '\\' ? 2 : 1;
    out.push({ value: text.slice(i, j), line: lineAt(i) });
    if (text[j] === '`') {
      templates.pop();
      return j;
    }
    depth++;
    templates[templates.length - 1] = depth;
    return j + 1;
  };
  for (let i = 0; i < n; i++) {
    const c = text[i]!;
    if (c === '/' && text[i + 1] === '/') {
      while (i < n && text[i] !== '\n') i++;
      continue;
    }
    if (c === '/' && text[i + 1] === '*') {
      i = text.indexOf('*/', i + 2) + 1;
      continue;
    }
    if (c === '/' && (last === '' || '(,=:[!&|?{};'.includes(last))) {
      let j = i + 1;
      let inClass = false;
      while (j < n && (inClass || text[j] !== '/')) {
        if (text[j] === '[') inClass = true;
        if (text[j] === ']') inClass = false;
        j += text[j] === '\\' ? 2 : 1;
      }
      i = j;
      last = '/';
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      while (j < n && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      out.push({ value: text.slice(i + 1, j), line: lineAt(i) });
      i = j;
      last = c;
      continue;
    }
    if (c === '`') {
      templates.push(depth);
      i = templateText(i + 1);
      last = '`';
      continue;
    }
    if (c === '}' && templates.length > 0 && templates[templates.length - 1] === depth) {
      depth--;
      i = templateText(i + 1);
      last = '`';
      continue;
    }
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (!/\s/.test(c)) last = c;
  }
  return out;
}

/** Literals in library code (src/ outside the CLI) that name a command-line flag. */
function flagsInLibrary(files: Array<{ file: string; text: string }>): string[] {
  // A process argument for Node itself, not a message.
  const notMessages = new Set(['--input-type=module']);
  return files
    .filter(({ file }) => !file.startsWith(`src${path.sep}cli`))
    .flatMap(({ file, text }) =>
      stringLiterals(text)
        .filter(({ value }) => /--[a-z]/.test(value) && !notMessages.has(value))
        .map(({ value, line }) => `${file}:${line}: ${value}`),
    );
}

test('library messages name options as the API does: no string under src/ outside the CLI contains a --flag', () => {
  const files = src.map((f) => ({ file: path.relative(ROOT, f), text: fs.readFileSync(f, 'utf8') }));
  assert.deepEqual(flagsInLibrary(files), []);
  // The check bites: flags in quoted, template and nested template text are found; comments are not messages.
  const planted = [
    "throw new UserError('pass --force to replace it');",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: planted source text
    'throw new UserError(`--limit ${n} leaves nothing`);',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: planted source text
    'const t = `a ${x ? `b --count ${y}` : "c"} d`;',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: planted source text
    'const u = `${a}${b} --embed pca`;',
  ].map((text) => ({ file: path.join('src', 'use', 'x.ts'), text }));
  assert.equal(flagsInLibrary(planted).length, 4);
  assert.deepEqual(
    flagsInLibrary([{ file: path.join('src', 'use', 'x.ts'), text: '// the CLI passes --force\n/* --onto */ const a = 1;' }]),
    [],
  );
  // And the scanner reads every literal of a real file: the CLI's own flags are found there.
  const cli = files.filter(({ file }) => file.startsWith(`src${path.sep}cli${path.sep}`));
  assert.ok(cli.flatMap(({ text }) => stringLiterals(text)).some(({ value }) => value.startsWith('--limit')));
});
