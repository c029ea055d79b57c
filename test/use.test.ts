import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { tf } from '../src/backend/index.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { resolveConfig } from '../src/config/load.js';
import type { Config } from '../src/config/schema.js';
import { batchTensor, head, type ImageSet, inMemory, type MemorySet, subset } from '../src/data/dataset.js';
import { loadData } from '../src/data/load.js';
import { UserError } from '../src/errors.js';
import { reconstruct } from '../src/models/registry.js';
import { train } from '../src/train/trainer.js';
import { encode } from '../src/use/encode.js';
import { interpolate } from '../src/use/interpolate.js';
import { score } from '../src/use/score.js';
import { MNIST_DIR, runCli, smallMnist, tempDir } from './helpers.js';

/**
 * A small trained AE whose config reads MNIST (subset of 1,000: 800 train, 200 validation) from the test data:
 * trained once per file; each test gets a copy of its run directory to write into.
 */
let fixture: string | null = null;
async function trainedRun(): Promise<{ dir: string; config: Config }> {
  const configIn = (project: string) =>
    resolveConfig({ project, name: 'run', epochs: 2, batch_size: 64, MNIST: { path: MNIST_DIR, subset: 1000 } });
  if (!fixture) {
    const config = configIn(tempDir('ae-use-'));
    await train(config, { data: await smallMnist(800, 200) });
    fixture = path.join(config.project, config.name);
  }
  const config = configIn(tempDir('ae-use-'));
  fs.cpSync(fixture, path.join(config.project, config.name), { recursive: true });
  return { dir: path.join(config.project, config.name), config };
}

/** Reads a .npy file of float32 rows by the format's own rules (magic, version, header dict, data). */
function readNpy(file: string): { shape: number[]; data: Float32Array } {
  const b = fs.readFileSync(file);
  assert.deepEqual([...b.subarray(0, 8)], [0x93, ...Buffer.from('NUMPY'), 1, 0], 'magic and version 1.0');
  const headerLength = b.readUInt16LE(8);
  assert.equal((10 + headerLength) % 64, 0, 'data aligned to 64 bytes');
  const header = b.subarray(10, 10 + headerLength).toString('latin1');
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(\d+, \d+\), \} *\n$/);
  const shape = header
    .match(/\((\d+), (\d+)\)/)!
    .slice(1)
    .map(Number);
  const bytes = b.subarray(10 + headerLength);
  assert.equal(bytes.length, shape[0]! * shape[1]! * 4);
  return { shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length)) };
}

function encodeByHand(config: Config, dir: string, set: ImageSet): Float32Array {
  const { model } = loadModel(config, path.join(dir, 'weights', 'best.ckpt'));
  const z = tf.tidy(() => model.encode(batchTensor(set, null, 0, set.count), { training: false, seed: 0 }).dataSync());
  model.params.dispose();
  return z as Float32Array;
}

test('ae encode: npy, csv and bin hold the encoder output row for row, with labels; outputs are not overwritten', async () => {
  const { dir, config } = await trainedRun();
  const data = await loadData(config);
  const expected = encodeByHand(config, dir, data.validation);
  const progress: number[] = [];
  const npy = await encode(dir, { input: ['validation'], onProgress: (d) => progress.push(d) });
  assert.deepEqual(
    npy.files.map((f) => path.basename(f)),
    ['codes_validation.npy', 'codes_validation.rows.csv'],
  );
  const read = readNpy(npy.files[0]!);
  assert.deepEqual(read.shape, [200, 32]);
  assert.deepEqual(read.data, expected);
  const rows = fs.readFileSync(npy.files[1]!, 'utf8').trim().split('\n');
  assert.equal(rows[0], 'index,label,class,path');
  assert.deepEqual(
    rows.slice(1, 4),
    [0, 1, 2].map((i) => `${i},${data.validation.labels[i]},${data.validation.labels[i]},`),
  );
  assert.equal(progress.at(-1), 200);

  const csv = await encode(dir, { input: ['validation'], format: 'csv' });
  const lines = fs.readFileSync(csv.files[0]!, 'utf8').trim().split('\n');
  assert.equal(lines.length, 201);
  assert.equal(lines[0], `index,label,class,path,${Array.from({ length: 32 }, (_, d) => `z${d}`).join(',')}`);
  const fields = lines[5]!.split(',');
  assert.deepEqual(fields.slice(4).map(Number), Array.from(expected.subarray(4 * 32, 5 * 32)));

  const bin = await encode(dir, { input: ['validation'], format: 'bin', out: path.join(dir, 'out', 'codes.bin') });
  const sidecar = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'codes.json'), 'utf8'));
  assert.deepEqual(sidecar.shape, [200, 32]);
  assert.equal(sidecar.dtype, 'float32');
  const raw = fs.readFileSync(bin.files[0]!);
  assert.deepEqual(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length)), expected);

  await assert.rejects(
    encode(dir, { input: ['validation'] }),
    (e: unknown) => e instanceof UserError && /exists/.test(e.message) && /`force`/.test(e.hint ?? ''),
  );
  await encode(dir, { input: ['validation'], force: true });
});

test("ae encode on image files: preprocessed as the run's images, the path on each row, bad files skipped and named", async () => {
  const { dir, config } = await trainedRun();
  const folder = tempDir('ae-use-images-');
  const data = await loadData(config);
  // Five test digits as 28x28 PNGs (exact in 8 bits), one corrupt file, one file that is not an image.
  for (let i = 0; i < 5; i++) {
    const px = Buffer.from(Array.from(inMemory(data.test).images.subarray(i * 784, (i + 1) * 784), (v) => Math.round(v * 255)));
    await sharp(px, { raw: { width: 28, height: 28, channels: 1 } })
      .png()
      .toFile(path.join(folder, `digit${i}.png`));
  }
  fs.writeFileSync(path.join(folder, 'broken.png'), 'not a png');
  fs.writeFileSync(path.join(folder, 'notes.txt'), 'not an image');
  const r = await encode(dir, { input: [folder], format: 'csv' });
  assert.equal(r.count, 5);
  assert.deepEqual(
    r.failed.map((f) => path.basename(f.path)),
    ['broken.png'],
  );
  const test = inMemory(data.test);
  const quantised: ImageSet = { ...test, count: 5, images: test.images.slice(0, 5 * 784).map((v) => Math.round(v * 255) / 255) };
  const expected = encodeByHand(config, dir, quantised);
  const lines = fs.readFileSync(r.files[0]!, 'utf8').trim().split('\n').slice(1);
  assert.deepEqual(
    lines.map((l) => path.basename(l.split(',')[3]!)),
    ['digit0.png', 'digit1.png', 'digit2.png', 'digit3.png', 'digit4.png'],
  );
  for (let i = 0; i < 5; i++) {
    const got = lines[i]!.split(',').slice(4).map(Number);
    got.forEach((v, d) => {
      assert.ok(Math.abs(v - expected[i * 32 + d]!) < 1e-5, `row ${i} z${d}: ${v} vs ${expected[i * 32 + d]}`);
    });
  }
  // With --projector: the same five images, their paths in the metadata, a t-SNE bookmark (perplexity lowered to 4/3).
  const projector = path.join(dir, 'projector');
  const withProjector = await encode(dir, { input: [folder], format: 'csv', force: true, projector });
  assert.equal(withProjector.projector?.exported, 5);
  const meta = fs.readFileSync(path.join(projector, 'metadata.tsv'), 'utf8').trim().split('\n');
  assert.equal(meta.length, 6);
  assert.deepEqual(
    meta.slice(1).map((l) => path.basename(l.split('\t')[3]!)),
    ['digit0.png', 'digit1.png', 'digit2.png', 'digit3.png', 'digit4.png'],
  );
  const bookmarks = JSON.parse(fs.readFileSync(path.join(projector, 'bookmarks.json'), 'utf8'));
  assert.equal(bookmarks[0].projections.length, 5);
  assert.equal(bookmarks[0].tSNEPerplexity, Number((4 / 3).toFixed(4)));
  await assert.rejects(encode(dir, { input: [path.join(folder, 'notes.txt')] }), /is not an image file/);
  const empty = tempDir('ae-use-empty-');
  await assert.rejects(encode(dir, { input: [empty] }), (e: unknown) => e instanceof UserError && /holds no images/.test(e.message));
});

test("ae score: scores are per-image MSE, the threshold is the training scores' percentile, stored once per checkpoint", async () => {
  const { dir, config } = await trainedRun();
  const data = await loadData(config);
  const said: string[] = [];
  const r = await score(dir, { input: ['validation'], percentile: 90, count: 4, onMessage: (t) => said.push(t) });
  // Independently: reconstruction error per image, summed here.
  const { model } = loadModel(config, path.join(dir, 'weights', 'best.ckpt'));
  const mse = (set: MemorySet) => {
    const rec = tf.tidy(() => reconstruct(model, batchTensor(set, null, 0, set.count), { training: false, seed: 0 }).dataSync());
    return Array.from({ length: set.count }, (_, i) => {
      let s = 0;
      for (let p = i * 784; p < (i + 1) * 784; p++) s += (rec[p]! - set.images[p]!) ** 2;
      return s / 784;
    });
  };
  const valScores = mse(inMemory(data.validation)),
    trainScores = mse(inMemory(data.train)).sort((a, b) => a - b);
  model.params.dispose();
  const pos = ((trainScores.length - 1) * 90) / 100,
    lo = Math.floor(pos);
  const threshold = trainScores[lo]! + (trainScores[lo + 1]! - trainScores[lo]!) * (pos - lo);
  assert.ok(Math.abs(r.threshold - threshold) < 1e-6 * threshold, `threshold ${r.threshold} vs ${threshold}`);
  for (const row of r.rows)
    assert.ok(Math.abs(row.score - valScores[row.index]!) < 1e-6, `image ${row.index}: ${row.score} vs ${valScores[row.index]}`);
  assert.equal(r.flagged, valScores.filter((s) => s > r.threshold).length);
  assert.ok(r.flagged > 0 && r.flagged < 200, `${r.flagged} flagged`);
  assert.ok(
    said.some((t) => t === `${r.flagged} of 200 images flagged as anomalous (score above ${r.threshold.toPrecision(6)})`),
    said.join('\n'),
  );

  // scores.csv: most anomalous first, every image once, flags matching the threshold.
  const lines = fs
    .readFileSync(path.join(dir, 'scores_validation', 'scores.csv'), 'utf8')
    .trim()
    .split('\n');
  assert.equal(lines[0], 'index,label,class,path,score,flagged');
  const parsed = lines.slice(1).map((l) => l.split(','));
  assert.equal(parsed.length, 200);
  assert.deepEqual(new Set(parsed.map((f) => Number(f[0]))).size, 200);
  for (let i = 1; i < parsed.length; i++) assert.ok(Number(parsed[i - 1]![4]) >= Number(parsed[i]![4]));
  assert.ok(parsed.every((f) => (Number(f[4]) > r.threshold ? '1' : '0') === f[5]));
  const png = await sharp(path.join(dir, 'scores_validation', 'anomalies.png')).metadata();
  assert.ok(png.width! > 4 * 84 && png.height! > 3 * 84, `four columns, three rows: ${png.width}x${png.height}`);

  // The training scores are stored for this checkpoint and reused; another percentile reads them too.
  said.length = 0;
  const again = await score(dir, { input: ['validation'], percentile: 99, force: true, onMessage: (t) => said.push(t) });
  assert.ok(
    said.some((t) => t.startsWith('threshold from the 800 training scores stored')),
    said.join('\n'),
  );
  assert.ok(again.threshold > r.threshold);
  await assert.rejects(score(dir, { percentile: 100 }), (e: unknown) => e instanceof UserError && /outside \(0, 100\)/.test(e.message));
  await assert.rejects(score(dir, { input: ['validation'] }), /scores\.csv exists/);
});

test('the CLI: ae encode and ae score print what they wrote and how many were flagged', async () => {
  const { dir } = await trainedRun();
  const enc = runCli(['encode', dir, '--input', 'validation', '--format', 'csv']);
  assert.equal(enc.status, 0, enc.stderr);
  assert.match(enc.stdout, /200 codes of 32 numbers:\n {2}.*codes_validation\.csv/);
  const sc = runCli(['score', dir, '--input', 'validation', '--percentile', '95', '--count', '3']);
  assert.equal(sc.status, 0, sc.stderr);
  assert.match(sc.stdout, /\d+ of 200 images flagged as anomalous/);
  assert.match(sc.stdout, /anomalies\.png/);
  const bad = runCli(['score', dir, '--percentile', '0']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /--percentile 0 is outside \(0, 100\)\n {2}hint: /);
});

test("ae interpolate: the ends are the two images' reconstructions, each frame the decoded mix of the two codes", async () => {
  const { dir, config } = await trainedRun();
  const data = await loadData(config);
  const r = await interpolate(dir, { from: '3', to: '2', steps: 5 }); // a 0 and a 1
  assert.deepEqual(r.t, [0, 0.25, 0.5, 0.75, 1]);
  const { model } = loadModel(config, path.join(dir, 'weights', 'best.ckpt'));
  const expected = tf.tidy(() => {
    const x = batchTensor(subset(data.test, [3, 2]), null, 0, 2);
    const [za, zb] = tf.split(model.encode(x, { training: false, seed: 0 }), 2);
    return model.decode(tf.concat(r.t.map((s) => tf.add(tf.mul(za!, 1 - s), tf.mul(zb!, s)))), { training: false, seed: 0 }).dataSync();
  });
  model.params.dispose();
  assert.equal(r.frames.length, 5 * 784);
  for (let i = 0; i < r.frames.length; i++) assert.ok(Math.abs(r.frames[i]! - expected[i]!) < 1e-6, `pixel ${i}`);
  // The two ends differ (two different digits), and the middle differs from both (a model of 2 short epochs
  // reconstructs blurrily, so the differences are small but far from rounding).
  const frame = (k: number) => r.frames.subarray(k * 784, (k + 1) * 784);
  const dist = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0);
  const d = [dist(frame(0), frame(4)), dist(frame(2), frame(0)), dist(frame(2), frame(4))];
  assert.ok(d[0]! > 0.05 && d[1]! > 0.005 && d[2]! > 0.005, `distances ${d}`);
  const png = await sharp(r.file).metadata();
  assert.ok(png.width! > 7 * 84, `seven columns (two inputs, five frames): ${png.width}`);
  await assert.rejects(interpolate(dir, { from: '3', to: '99999' }), /image 99999 is not in the test split \(it has 10000 images\)/);
  await assert.rejects(interpolate(dir, { from: '3', to: '8', steps: 1 }), /`steps` 1/);
});

test('ae encode and ae score on a CAE run: codes are the whole latent tensor, flattened', async () => {
  const config = resolveConfig({
    project: tempDir('ae-use-cae-'),
    name: 'cae',
    model_type: 'CAE',
    epochs: 1,
    batch_size: 16,
    MNIST: { path: MNIST_DIR, subset: 300 },
  });
  await train(config);
  const dir = path.join(config.project, config.name);
  const data = await loadData(config);
  const r = await encode(dir, { input: ['validation'], format: 'bin' });
  assert.equal(r.dim, 7 * 7 * 256);
  assert.equal(r.count, data.validation.count);
  const raw = fs.readFileSync(r.files[0]!);
  const codes = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
  assert.deepEqual(codes, encodeByHand(config, dir, data.validation));
  const s = await score(dir, { input: ['validation'], count: 3 });
  assert.equal(s.rows.length, data.validation.count);
  assert.ok(s.rows.every((row) => row.score > 0 && Number.isFinite(row.score)));
});

test('ae encode --onto: new images are placed on the saved t-SNE map by transformPoints, with a CSV and a picture', async () => {
  const { dir, config } = await trainedRun();
  const { evaluateRun } = await import('../src/evaluate/evaluate-run.js');
  const { readMapData } = await import('../src/evaluate/map-data.js');
  const { transformPoints } = await import('../src/embed/transform.js');
  await assert.rejects(
    encode(dir, { input: ['validation'], onto: true }),
    (e: unknown) => e instanceof UserError && /ae test/.test(e.hint ?? ''),
  );
  await evaluateRun(dir, { split: 'test', limit: 300, embed: 'tsne' });
  const mapFile = path.join(dir, 'vis_outputs', 'map_tsne.json');
  const map = readMapData(mapFile);
  const data = await loadData(config);
  // The map keeps the codes it was made from: the encoder's output for the first 300 test images.
  assert.deepEqual(map.arrays.codes, encodeByHand(config, dir, head(data.test, 300)));

  const r = await encode(dir, { input: ['validation'], onto: true });
  assert.deepEqual(
    r.files.map((f) => path.basename(f)),
    ['codes_validation.npy', 'codes_validation.rows.csv', 'codes_validation_on_tsne.csv', 'codes_validation_on_tsne.png'],
  );
  const lines = fs.readFileSync(r.files[2]!, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'index,x,y,label,landed_among,path');
  assert.equal(lines.length, 201);
  // The same placement computed directly from the map file and the encoder's codes.
  const codes = encodeByHand(config, dir, data.validation);
  const direct = transformPoints(
    { data: map.arrays.codes as Float32Array, coords: map.arrays.coords as Float32Array, n: 300, dim: 32 },
    codes,
    200,
  );
  // landed_among: the most common label among the 15 nearest map codes (ties to the smaller label), recomputed from
  // float64 distances. Where the 15th and 16th nearest are closer than float32 can tell apart (seen: 1.203095 and
  // 1.203098), either may be the 15th, and either vote is right.
  const mapCodes = map.arrays.codes as Float32Array;
  const mapLabels = map.arrays.labels as Uint8Array;
  const winner = (set: number[]) => {
    const votes = new Array(10).fill(0);
    for (const j of set) votes[mapLabels[j]!]++;
    return String(votes.indexOf(Math.max(...votes)));
  };
  lines.slice(1).forEach((line, i) => {
    const f = line.split(',');
    assert.equal(Number(f[0]), i);
    assert.ok(Math.abs(Number(f[1]) - direct.coords[2 * i]!) < 1e-3 && Math.abs(Number(f[2]) - direct.coords[2 * i + 1]!) < 1e-3);
    assert.equal(f[3], String(data.validation.labels[i]));
    const byDistance = Array.from({ length: 300 }, (_, j) => {
      let d = 0;
      for (let t = 0; t < 32; t++) d += (mapCodes[j * 32 + t]! - codes[i * 32 + t]!) ** 2;
      return [j, d] as [number, number];
    }).sort((p, q) => p[1] - q[1]);
    const nearest = byDistance.slice(0, 15).map((p) => p[0]);
    const allowed = new Set([winner(nearest)]);
    if (byDistance[15]![1] - byDistance[14]![1] < 1e-5 * byDistance[14]![1])
      allowed.add(winner([...nearest.slice(0, 14), byDistance[15]![0]]));
    assert.ok(allowed.has(f[4]!), `point ${i}: landed among ${f[4]}, expected ${[...allowed].join(' or ')}`);
  });
  const png = await sharp(r.files[3]!).metadata();
  assert.deepEqual([png.width, png.height], [1200, 1100]);

  await assert.rejects(
    encode(dir, { input: ['validation'], onto: true, out: path.join(dir, 'codes_validation.csv'), format: 'csv' }),
    /on_tsne.csv exists/,
  );
  // A map written before maps kept their codes is refused with a way out.
  const header = JSON.parse(fs.readFileSync(mapFile, 'utf8'));
  delete header.arrays.codes;
  fs.writeFileSync(mapFile, JSON.stringify(header));
  await assert.rejects(
    encode(dir, { input: ['validation'], onto: mapFile, force: true }),
    (e: unknown) => e instanceof UserError && /no codes/.test(e.message) && /rerun `ae test`/.test(e.hint ?? ''),
  );
});
