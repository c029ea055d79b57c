import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tf } from '../src/backend/index.js';
import { loadModel } from '../src/checkpoint/model-state.js';
import { resolveConfig } from '../src/config/load.js';
import { batchTensor, head, inMemory } from '../src/data/dataset.js';
import { loadData } from '../src/data/load.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { exportProjector } from '../src/render/projector.js';
import { train } from '../src/train/trainer.js';
import { MNIST_DIR, pixelAt, readPng, smallMnist, tempDir } from './helpers.js';

/** Reads a projector folder back by the format's rules. */
function readProjector(dir: string) {
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'projector_config.json'), 'utf8'));
  assert.equal(config.embeddings.length, 1);
  const e = config.embeddings[0];
  for (const key of ['tensorName', 'tensorShape', 'tensorPath', 'metadataPath', 'sprite', 'bookmarksPath']) assert.ok(key in e, key);
  const [n, dim] = e.tensorShape as [number, number];
  const bytes = fs.readFileSync(path.join(dir, e.tensorPath));
  assert.equal(bytes.length, n * dim * 4, 'tensors.bytes holds n x dim float32');
  const tensors = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
  const meta = fs
    .readFileSync(path.join(dir, e.metadataPath), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
  // More than one column: the first line is the header, then one line per point.
  assert.deepEqual(meta[0], ['label', 'split', 'reconstruction_error', 'path']);
  assert.equal(meta.length, n + 1);
  assert.ok(meta.every((row) => row.length === 4));
  const bookmarks = JSON.parse(fs.readFileSync(path.join(dir, e.bookmarksPath), 'utf8'));
  return { e, n, dim, tensors, meta: meta.slice(1), bookmarks };
}

test('ae test --projector writes a folder the Embedding Projector reads: codes, metadata, sprite and our map', async () => {
  const cfg = resolveConfig({ project: tempDir(), name: 'proj', epochs: 1, batch_size: 64, MNIST: { path: MNIST_DIR, subset: 2000 } });
  await train(cfg, { data: await smallMnist(512, 64) });
  const dir = path.join(cfg.project, cfg.name);
  const out = path.join(dir, 'projector');
  const r = await evaluateRun(dir, { limit: 150, count: 3, projector: out });
  const p = readProjector(out);
  assert.deepEqual([p.n, p.dim], [150, 32]);
  // The tensors are the encoder's codes of the first 150 test images; the metadata their labels and errors.
  const data = await loadData(cfg);
  const set = inMemory(head(data.test, 150));
  const { model } = loadModel(cfg, path.join(dir, 'weights', 'best.ckpt'));
  const codes = tf.tidy(() => model.encode(batchTensor(set, null, 0, 150), { training: false, seed: 0 }).dataSync());
  const recon = tf.tidy(() =>
    model.decode(model.encode(batchTensor(set, null, 0, 150), { training: false, seed: 0 }), { training: false, seed: 0 }).dataSync(),
  );
  model.params.dispose();
  assert.deepEqual(p.tensors, codes);
  p.meta.forEach((row, i) => {
    assert.equal(row[0], String(set.labels[i]));
    assert.equal(row[1], 'test');
    let mse = 0;
    for (let k = i * 784; k < (i + 1) * 784; k++) mse += (recon[k]! - set.images[k]!) ** 2;
    assert.ok(Math.abs(Number(row[2]) - mse / 784) < 1e-5 * Math.max(1, mse / 784), `row ${i} error ${row[2]} vs ${mse / 784}`);
  });
  // The sprite: 13 x 12 cells of 28 x 28 for 150 points, row by row from the top left; cell k shows image k.
  assert.deepEqual(p.e.sprite.singleImageDim, [28, 28]);
  const sprite = await readPng(path.join(out, p.e.sprite.imagePath));
  assert.deepEqual([sprite.width, sprite.height], [13 * 28, 12 * 28]);
  for (const k of [0, 14, 149]) {
    const [cx, cy] = [(k % 13) * 28, Math.floor(k / 13) * 28];
    for (const [x, y] of [
      [14, 14],
      [10, 20],
      [20, 8],
    ] as const) {
      assert.ok(
        Math.abs(pixelAt(sprite, cx + x, cy + y)[0] - Math.round(255 * set.images[k * 784 + y * 28 + x]!)) <= 1,
        `thumbnail ${k} at ${x},${y}`,
      );
    }
  }
  // The bookmark holds our map: one 2-D projection per point, the t-SNE the run's metrics describe.
  assert.equal(p.bookmarks.length, 1);
  assert.equal(p.bookmarks[0].selectedProjection, 'tsne');
  assert.equal(p.bookmarks[0].projections.length, 150);
  assert.ok(p.bookmarks[0].projections.every((q: Record<string, number>) => Number.isFinite(q['tsne-0']) && Number.isFinite(q['tsne-1'])));
  assert.equal(p.bookmarks[0].tSNEPerplexity, r.metrics.embedding.perplexity);
  await assert.rejects(evaluateRun(dir, { limit: 150, count: 3, projector: out }), /already holds a projector export/);
});

test('a projector export larger than the sprite holds a seeded sample of the points, and says so', async () => {
  const n = 10;
  const images = Float32Array.from({ length: n * 784 }, (_, i) => (Math.floor(i / 784) + 1) / (n + 1));
  const input = {
    codes: Float32Array.from({ length: n * 3 }, (_, i) => i),
    dim: 3,
    points: Array.from({ length: n }, (_, i) => ({ label: `c${i}`, split: 'test', reconstructionError: i / 10, path: `img\t${i}.png` })),
    images,
    height: 28,
    width: 28,
    channels: 1,
    map: { coords: Float32Array.from({ length: 2 * n }, (_, i) => i), method: 'pca' as const, description: 'PCA' },
    tensorName: 'sampled',
    seed: 4,
    maxSpriteSide: 56, // room for 2 x 2 thumbnails
  };
  const dir = tempDir('ae-proj-');
  const r = await exportProjector(dir, input);
  assert.equal(r.exported, 4);
  assert.match(r.note!, /at most 4 thumbnails .* a seeded sample of 4 of the 10 points/);
  const p = readProjector(dir);
  assert.equal(p.n, 4);
  const picked = Array.from(r.indices);
  assert.deepEqual(
    picked,
    [...picked].sort((a, b) => a - b),
  );
  picked.forEach((i, row) => {
    assert.deepEqual(Array.from(p.tensors.subarray(row * 3, row * 3 + 3)), [3 * i, 3 * i + 1, 3 * i + 2]);
    assert.equal(p.meta[row]![0], `c${i}`);
    assert.equal(p.meta[row]![3], `img ${i}.png`, 'tabs inside a field are replaced');
    assert.deepEqual(p.bookmarks[0].projections[row], { 'pca-0': 2 * i, 'pca-1': 2 * i + 1 });
  });
  assert.deepEqual(picked, Array.from((await exportProjector(tempDir('ae-proj-'), input)).indices), 'the same seed picks the same points');
});
