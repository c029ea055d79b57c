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
import { loadConfig } from '../src/config/load.js';
import { configInSafetensors } from '../src/exchange/index.js';
import { ensureCached } from '../src/data/cache.js';
import { shardIndex } from '../src/data/store.js';
import { startViewer } from '../src/view/server.js';
import { loadMapData, loadRest, MapReadError } from '../viewer/map-data.js';
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

test('fuzz: 1,000 seeded mutants per reader (safetensors, checkpoint, map, viewer map, IDX, config, run files, images, image cache) each load or are refused naming the file', async () => {
  assert.deepEqual(
    targets.map((t) => t.name),
    ['safetensors', 'checkpoint', 'map', 'viewer-map', 'idx', 'config', 'run-files', 'images', 'image-cache'],
  );
  for (const target of targets) {
    const result = await runIsolated(target, { runs: 1000, seed: 7, workDir: work, seedRun });
    const shown = result.findings.slice(0, 3).map((f) => `run ${f.run}: ${f.kind}: ${f.message.split('\n')[0]}`);
    assert.equal(result.findings.length, 0, `${target.name}: ${shown.join('; ')}`);
    assert.equal(result.runs, 1000);
    // The mutator reaches both sides: some inputs still load, and (except the viewer's reader, which never refuses)
    // most are refused.
    assert.ok(result.loaded > 0, `${target.name}: no mutant loaded`);
    // (The image cache mostly repairs itself: a damaged index is dropped and its images decoded again, a load.)
    if (target.name !== 'run-files') assert.ok(result.refused > 50, `${target.name}: only ${result.refused} refused`);
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

test('fuzz findings, image cache: index entries of the wrong types drop the shard (decoded again), and swapped paths fail the checksum instead of giving one file the pixels of another', async () => {
  const { cacheSources, cacheDir, digits } = seedRun;
  const grey = { height: 28, width: 28, channels: 1 as const, fit: 'squash' as const, background: 'black' as const };
  type Index = { images: unknown[][]; failed: unknown[] };
  const cases: Array<[string, (index: Index) => void]> = [
    ['an image entry that is a number', (ix) => ((ix.images as unknown[])[1] = 2 ** 31)],
    ['a failed list that is text', (ix) => ((ix as { failed: unknown }).failed = '.for')],
    ['a fractional checksum', (ix) => (ix.images[0]![3] = 1.5)],
    ['an entry of null', (ix) => ((ix.images as unknown[])[2] = null)],
  ];
  let c = 0;
  const copy = (edit: (index: Index) => void) => {
    const dir = path.join(work, `cache-${c++}`);
    fs.cpSync(cacheDir, dir, { recursive: true });
    const index = JSON.parse(fs.readFileSync(shardIndex(dir, 0), 'utf8')) as Index;
    edit(index);
    fs.writeFileSync(shardIndex(dir, 0), JSON.stringify(index));
    return dir;
  };
  const readAll = async (dir: string, log: (m: string) => void) => {
    const { store, rows, decoded } = await ensureCached(dir, grey, cacheSources, { shardImages: 3, log });
    const out = new Uint8Array(rows.length * 784);
    try {
      store.read(rows, 0, rows.length, out);
    } finally {
      store.close();
    }
    return { out, decoded };
  };
  for (const [what, edit] of cases) {
    const logs: string[] = [];
    const { out, decoded } = await readAll(copy(edit), (m) => logs.push(m));
    assert.ok(
      logs.some((m) => /shard-000000\.bin has a damaged index/.test(m)),
      `${what}: ${logs.join('; ')}`,
    );
    assert.equal(decoded, 3, `${what}: the dropped shard's 3 images are decoded again, the other shard reused`);
    assert.deepEqual(out, digits.subarray(0, 6 * 784), `${what}: the pixels are the files'`);
  }
  // Well-typed but wrong: the first two images' files (path, size, time) swapped, their checksums left in place
  // (as an edit by hand or a bug could leave them): each slot then names a file whose pixels it does not hold.
  const swapped = copy((ix) => {
    const first = ix.images[0]!.slice(0, 3);
    ix.images[0]!.splice(0, 3, ...ix.images[1]!.slice(0, 3));
    ix.images[1]!.splice(0, 3, ...first);
  });
  await assert.rejects(
    readAll(swapped, () => {}),
    (e: unknown) => e instanceof UserError && /shard-000000\.bin holds image \d with a checksum that does not match/.test(e.message),
  );
  // The unedited cache is reused whole.
  assert.equal(
    (
      await readAll(
        copy(() => {}),
        () => {},
      )
    ).decoded,
    0,
  );
});

test("fuzz findings, viewer map: the page's reader refuses hostile headers, a short .bin and out-of-range neighbours and labels with a MapReadError naming the file", async () => {
  const run = seedRun.runDir;
  const maps = path.join(run, 'vis_outputs');
  const original = JSON.parse(fs.readFileSync(path.join(maps, 'map_pca.json'), 'utf8'));
  const bin = fs.readFileSync(path.join(maps, 'map_pca.bin'));
  const viewer = await startViewer({ project: path.dirname(run) });
  const base = `${viewer.url}runs/${path.basename(run)}`;
  type Header = { arrays: Record<string, { shape: number[]; offset: number; dtype: string }>; [k: string]: unknown };
  const write = (name: string, header: Header, data: Buffer) => {
    fs.writeFileSync(path.join(maps, `${name}.json`), JSON.stringify(header));
    fs.writeFileSync(path.join(maps, `${name}.bin`), data);
  };
  const load = async (name: string) => {
    const data = await loadMapData(base, `vis_outputs/${name}.json`);
    await loadRest(data);
    return data;
  };
  try {
    const cases: Array<[string, (h: Header) => Buffer, RegExp]> = [
      [
        'a shape that is a number',
        (h) => {
          h.arrays.coords!.shape = 7 as unknown as number[];
          return bin;
        },
        /header field arrays\.coords\.shape/,
      ],
      [
        'no coords',
        (h) => {
          delete h.arrays.coords;
          return bin;
        },
        /no coords array/,
      ],
      [
        'neighbours of another k',
        (h) => {
          h.k = 3;
          return bin;
        },
        /array neighbours has shape/,
      ],
      ['a .bin cut short', () => bin.subarray(0, bin.length - 64), /the \.bin file ends before its arrays do/],
      [
        'a neighbour past the points',
        (h) => {
          const b = Buffer.from(bin);
          b.writeInt32LE(1_000_000, h.arrays.neighbours!.offset);
          return b;
        },
        /a neighbour is not one of its \d+ points/,
      ],
      [
        'a label past the classes',
        (h) => {
          const b = Buffer.from(bin);
          b[h.arrays.labels!.offset] = 200;
          return b;
        },
        /a label is not one of its 10 classes/,
      ],
    ];
    let i = 0;
    for (const [what, edit, message] of cases) {
      const header = structuredClone(original) as Header;
      const name = `map_edited${i++}`;
      write(name, header, edit(header));
      await assert.rejects(
        load(name),
        (e: unknown) => e instanceof MapReadError && message.test(e.message) && e.message.startsWith(`vis_outputs/${name}.json `),
        what,
      );
    }
    const good = await load('map_pca');
    assert.equal(good.coords.length, 2 * original.count);
    assert.equal(good.neighbours.length, original.count * original.k);
  } finally {
    await viewer.close();
    for (const f of fs.readdirSync(maps)) if (f.startsWith('map_edited')) fs.rmSync(path.join(maps, f));
  }
});

test('fuzz findings, config: an unknown YAML tag is refused naming the file and the line, with no YAMLWarning printed', () => {
  const file = path.join(work, 'tagged.yaml');
  fs.writeFileSync(file, 'model_type: AE\nMNIST:\n  path: x\n  subset: !in_memory 5\n');
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  try {
    assert.throws(
      () => loadConfig(file),
      (e: unknown) => e instanceof UserError && e.message.includes(file) && /Unresolved tag: !in_memory at line 4/.test(e.message),
    );
  } finally {
    process.off('warning', onWarning);
  }
  assert.deepEqual(warnings, []);
});

test('fuzz findings, safetensors: a damaged config in the metadata (what `ae import FILE` reads without --config) is refused naming the file, not a YAMLParseError', () => {
  const bytes = fs.readFileSync(path.join(work, 'seed', 'model.safetensors'));
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
  header.__metadata__.config = `${header.__metadata__.config.slice(0, 40)} "unclosed`;
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const file = path.join(work, 'damaged-config.safetensors');
  fs.writeFileSync(file, Buffer.concat([len, json, bytes.subarray(8 + n)]));
  assert.throws(
    () => configInSafetensors(file),
    (e: unknown) => e instanceof UserError && e.message.startsWith(`${file} carries a config that cannot be read`),
  );
  assert.equal((configInSafetensors(path.join(work, 'seed', 'model.safetensors')) as { name: string }).name, 'seed');
});
