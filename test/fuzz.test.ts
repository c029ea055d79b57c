/**
 * The fuzzer's seeded small version (`npm run fuzz` runs the large one): every reader of outside input gets 1,000
 * mutants of real files and each must load or be refused with a UserError naming the file; then the inputs the
 * fuzzer found, minimised by hand, as regression tests of their own.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { UserError } from '../src/errors.js';
import { readMapData } from '../src/evaluate/map-data.js';
import { mutantOf, runIsolated } from '../fuzz/campaign.js';
import { buildTargets, frameCheckpoint, makeSeedRun, type SeedRun, splitCheckpoint, type Target } from '../fuzz/targets.js';
import { MNIST_DIR, tempDir } from './helpers.js';

let work: string;
let targets: Target[];
let seedRun: SeedRun;
before(async () => {
  await initBackend('wasm');
  work = tempDir('ae-fuzz-');
  seedRun = await makeSeedRun(path.join(work, 'seed'), MNIST_DIR);
  targets = await buildTargets(seedRun);
});
after(() => fs.rmSync(work, { recursive: true, force: true }));

test('fuzz: 1,000 seeded mutants per reader (safetensors, checkpoint, map, IDX, config, run files, images) each load or are refused naming the file', async () => {
  assert.deepEqual(
    targets.map((t) => t.name),
    ['safetensors', 'checkpoint', 'map', 'idx', 'config', 'run-files', 'images'],
  );
  for (const target of targets) {
    const result = await runIsolated(target, { runs: 1000, seed: 7, workDir: work, seedRun });
    const shown = result.findings.slice(0, 3).map((f) => `run ${f.run}: ${f.kind}: ${f.message.split('\n')[0]}`);
    assert.equal(result.findings.length, 0, `${target.name}: ${shown.join('; ')}`);
    assert.equal(result.runs, 1000);
    // The mutator reaches both sides: some inputs still load, and (except the viewer's reader, which never refuses)
    // most are refused.
    assert.ok(result.loaded > 0, `${target.name}: no mutant loaded`);
    if (target.name !== 'run-files') assert.ok(result.refused > 100, `${target.name}: only ${result.refused} refused`);
  }
});

test('fuzz: a reader stuck in a loop is a hang finding; the campaign terminates its thread and goes on with the next input', async () => {
  const idx = targets.find((t) => t.name === 'idx')!;
  process.env.AE_FUZZ_TEST_STUCK_RUN = '3';
  try {
    const t0 = performance.now();
    const result = await runIsolated(idx, { runs: 8, seed: 7, workDir: work, seedRun, hangMs: 1500 });
    assert.equal(result.runs, 8, 'every run is counted, the stuck one included');
    assert.deepEqual(
      result.findings.map((f) => [f.run, f.kind]),
      [[3, 'hang']],
    );
    assert.equal(result.loaded + result.refused, 7);
    assert.ok(performance.now() - t0 < 60_000);
  } finally {
    delete process.env.AE_FUZZ_TEST_STUCK_RUN;
  }
});

test('fuzz: mutants are reproducible from the seed and run number alone', () => {
  for (const target of targets) {
    const a = mutantOf(target, 3, 41),
      b = mutantOf(target, 3, 41),
      c = mutantOf(target, 3, 42);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c, `${target.name}: runs 41 and 42 gave the same input`);
  }
});

/** The checkpoint of the seed run with its header replaced (framing and checksum kept true). */
let edited = 0;
function checkpointWith(edit: (header: Record<string, unknown>) => void): string {
  const bytes = fs.readFileSync(path.join(work, 'seed', 'seed', 'weights', 'last.ckpt'));
  const { header, data } = splitCheckpoint(bytes);
  edit(header);
  const file = path.join(work, `edited-${edited++}.ckpt`);
  fs.writeFileSync(file, frameCheckpoint(bytes, header, data));
  return file;
}

test('fuzz findings, checkpoint: a header whose tensor table has wrong types or points past the data is refused, not a TypeError', () => {
  type Rec = { shape: unknown; offset: number };
  const cases: Array<[string, (h: Record<string, unknown>) => void, RegExp]> = [
    ['shape not a list', (h) => ((h.variables as Rec[])[0]!.shape = 5), /header field variables\.0\.shape/],
    ['a slot that is a number', (h) => ((h.optimizer as { slots: unknown[] }).slots[0] = 3), /header field optimizer\.slots\.0/],
    ['variables not a list', (h) => (h.variables = {}), /header field variables/],
    ['a negative offset', (h) => ((h.variables as Rec[])[1]!.offset = -4), /header field variables\.1\.offset/],
    ['an offset past the data', (h) => ((h.variables as Rec[])[0]!.offset = 1e6), /tensor .* lies outside the data/],
    ['a shape of 2^31 x 2^31', (h) => ((h.variables as Rec[])[0]!.shape = [2 ** 31, 2 ** 31]), /lies outside the data/],
    ['a fractional float count', (h) => (h.data_floats = 1.5), /header field data_floats/],
  ];
  for (const [what, edit, message] of cases) {
    const file = checkpointWith(edit);
    assert.throws(
      () => readCheckpoint(file),
      (e: unknown) => e instanceof UserError && message.test(e.message) && e.message.includes(file),
      what,
    );
  }
  // The unedited header still reads.
  assert.ok(readCheckpoint(checkpointWith(() => {})).data.length > 0);
});

test('fuzz findings, map: hostile headers (shapes, names, classes, method) are refused before anything is sized by them', () => {
  const dir = path.join(work, 'seed', 'seed', 'vis_outputs');
  const original = JSON.parse(fs.readFileSync(path.join(dir, 'map_pca.json'), 'utf8'));
  type Header = { arrays: Record<string, { shape: unknown; offset: number; dtype: string }>; [k: string]: unknown };
  const cases: Array<[string, (h: Header) => void, RegExp]> = [
    ['an array without a shape', (h) => delete (h.arrays.coords as { shape?: unknown }).shape, /header field arrays\.coords\.shape/],
    ['a shape that is a number', (h) => (h.arrays.codes!.shape = 7), /header field arrays\.codes\.shape/],
    [
      'an array named __proto__',
      (h) => Object.defineProperty(h.arrays, '__proto__', { value: { ...h.arrays.labels }, enumerable: true }),
      /array name "__proto__"/,
    ],
    ['a dtype named constructor', (h) => (h.arrays.labels!.dtype = 'constructor'), /header field arrays\.labels\.dtype/],
    ['classes that are not names', (h) => (h.classes = [1, 2]), /header field classes\.0/],
    ['a method that is a path', (h) => (h.method = '../../x'), /header field method/],
    ['coords of three columns', (h) => (h.arrays.coords!.shape = [h.count, 3]), /array coords has shape .*x3, not one row per point/],
    ['a count that is not the rows', (h) => (h.count = (h.count as number) + 1), /not one row per point/],
  ];
  for (const [what, edit, message] of cases) {
    const header = structuredClone(original) as Header;
    edit(header);
    const file = path.join(dir, 'edited.json');
    fs.writeFileSync(file, JSON.stringify(header));
    fs.copyFileSync(path.join(dir, 'map_pca.bin'), path.join(dir, 'edited.bin'));
    assert.throws(
      () => readMapData(file),
      (e: unknown) => e instanceof UserError && message.test(e.message) && e.message.includes(file),
      what,
    );
  }
  assert.equal(readMapData(path.join(dir, 'map_pca.json')).header.count, original.count);
});
