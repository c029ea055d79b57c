import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { resolveConfig } from '../src/config/load.js';
import { train } from '../src/train/trainer.js';
import { evaluateRun } from '../src/evaluate/evaluate-run.js';
import { UserError } from '../src/errors.js';
import { inkShare, MNIST_DIR, readPng, runCli, smallMnist, tempDir } from './helpers.js';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngSize(file: string): { width: number; height: number } {
  const b = fs.readFileSync(file);
  assert.deepEqual(b.subarray(0, 8), PNG, `${file} is a PNG`);
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

/** A small trained run whose config reads MNIST from the test data folder. */
async function trainedRun(over: Record<string, unknown>, nTrain: number): Promise<string> {
  const data = await smallMnist(nTrain, 64);
  const cfg = resolveConfig({
    project: tempDir(),
    name: 'run',
    epochs: 2,
    batch_size: 32,
    MNIST: { path: MNIST_DIR, subset: 2000 },
    ...over,
  });
  await train(cfg, { data });
  return path.join(cfg.project, cfg.name);
}

test('ae test on an AE run writes reconstructions, a t-SNE map, the loss plot and metrics', async () => {
  const dir = await trainedRun({ epochs: 4, batch_size: 64 }, 2048); // trained enough for digits to separate
  const progress: number[] = [];
  const r = await evaluateRun(dir, { limit: 300, count: 6, embedOptions: { onProgress: (it) => progress.push(it) } });
  const out = path.join(dir, 'vis_outputs');
  const written = ['latent_tsne.png', 'loss.png', 'map_tsne.bin', 'map_tsne.json', 'metrics.json', 'reconstructions.png'];
  assert.deepEqual(fs.readdirSync(out).sort(), written);
  const recon = pngSize(path.join(out, 'reconstructions.png'));
  assert.ok(recon.width > 6 * 84 && recon.height > 2 * 84, `two rows of six enlarged digits: ${recon.width}x${recon.height}`);
  assert.ok(pngSize(path.join(out, 'latent_tsne.png')).width >= 1000);
  // The loss plot: a picture of its own size with two curves and axes drawn on white, not a blank canvas.
  const loss = await readPng(path.join(out, 'loss.png'));
  assert.ok(loss.width >= 600 && loss.height >= 400, `loss.png ${loss.width}x${loss.height}`);
  const lossInk = inkShare(loss);
  assert.ok(lossInk > 0.01 && lossInk < 0.5, `loss.png: ${(100 * lossInk).toFixed(2)} % of pixels drawn`);
  const m = JSON.parse(fs.readFileSync(path.join(out, 'metrics.json'), 'utf8'));
  assert.equal(m.images, 300);
  assert.ok(m.test_mse > 0 && m.test_mse < 0.06, `test MSE ${m.test_mse}`);
  assert.equal(m.latent.dim, 32);
  assert.ok(m.latent.knn5_accuracy > 0.6, `latent 5-NN ${m.latent.knn5_accuracy}`);
  assert.equal(m.embedding.method, 'tsne');
  assert.ok(m.embedding.knn5_accuracy_2d > 0.5 && m.embedding.trustworthiness_k10 > 0.8, JSON.stringify(m.embedding));
  assert.ok(progress.includes(1000), 't-SNE progress reached iteration 1000 from the worker');
  assert.deepEqual(r.files.map((f) => path.basename(f)).sort(), written);
});

test('ae test on a denoising CAE run shows the noisy input row and maps latents with PCA and UMAP', async () => {
  const dir = await trainedRun({ model_type: 'CAE', denoising: true, epochs: 1, batch_size: 16 }, 48);
  await evaluateRun(dir, { limit: 120, count: 4, embed: 'pca', knnTrainLimit: 48 });
  // reconstructions.png read back: three rows of four 84 px cells (28 px at scale 3, 8 px apart, from y 70). The clean
  // row holds real test images byte for byte (matched against the raw MNIST file, not the code that drew them); the
  // noisy row is that image plus N(0, 0.1) noise, clipped to [0, 1].
  const recon = await readPng(path.join(dir, 'vis_outputs', 'reconstructions.png'));
  assert.equal(recon.height, 70 + 3 * (84 + 8) + 8, 'three rows: noisy input, clean, reconstruction');
  const grey = (x: number, y: number): number => recon.rgb[3 * (y * recon.width + x)]!;
  let left = 0;
  while (left < recon.width && grey(left, 163) > 30) left++; // the clean row's first cell: its top edge is black
  assert.ok(left > 0 && left + 4 * 92 <= recon.width, `cells start at x ${left} of ${recon.width}`);
  const cell = (row: number, col: number): Uint8Array => {
    const out = new Uint8Array(784);
    for (let i = 0; i < 28; i++)
      for (let j = 0; j < 28; j++) out[28 * i + j] = grey(left + col * 92 + 3 * j + 1, 70 + row * 92 + 3 * i + 1);
    return out;
  };
  const testImages = zlib.gunzipSync(fs.readFileSync(path.join(MNIST_DIR, 't10k-images-idx3-ubyte.gz'))).subarray(16);
  for (let col = 0; col < 4; col++) {
    const clean = cell(1, col);
    let match = -1;
    for (let k = 0; k < 10000 && match < 0; k++) {
      let same = true;
      for (let p = 0; p < 784 && same; p++) same = Math.abs(testImages[784 * k + p]! - clean[p]!) <= 1;
      if (same) match = k;
    }
    assert.ok(match >= 0, `column ${col}: the clean row is a real MNIST test image`);
    const noisy = cell(0, col);
    let sum = 0,
      sumSq = 0,
      interior = 0;
    for (let p = 0; p < 784; p++) {
      const c = clean[p]!;
      if (c < 60 || c > 195) continue; // away from 0 and 1, where clipping would shrink the noise
      const d = (noisy[p]! - c) / 255;
      sum += d;
      sumSq += d * d;
      interior++;
    }
    const mean = sum / interior,
      std = Math.sqrt(sumSq / interior - mean * mean);
    assert.ok(interior >= 20 && Math.abs(mean) < 0.05 && std > 0.06 && std < 0.14, `column ${col}: noise mean ${mean}, std ${std}`);
  }
  const m = JSON.parse(fs.readFileSync(path.join(dir, 'vis_outputs', 'metrics.json'), 'utf8'));
  assert.equal(m.latent.dim, 7 * 7 * 256);
  const pcaMap = await readPng(path.join(dir, 'vis_outputs', 'latent_pca.png'));
  await evaluateRun(dir, { limit: 120, count: 4, embed: 'umap', knnTrainLimit: 48 });
  // The UMAP map: the map's size, 120 points and their thumbnails drawn (not blank), and a layout of its own.
  const umapMap = await readPng(path.join(dir, 'vis_outputs', 'latent_umap.png'));
  assert.deepEqual([umapMap.width, umapMap.height], [1400, 1200]);
  const ink = inkShare(umapMap);
  assert.ok(ink > 0.02 && ink < 0.6, `latent_umap.png: ${(100 * ink).toFixed(2)} % of pixels drawn`);
  let differing = 0;
  for (let p = 0; p < umapMap.rgb.length; p++) if (umapMap.rgb[p] !== pcaMap.rgb[p]) differing++;
  assert.ok(differing / umapMap.rgb.length > 0.01, 'the UMAP map differs from the PCA map of the same latents');
});

test('ae test refuses a run without the requested checkpoint and a --count larger than the split', async () => {
  const dir = await trainedRun({ epochs: 1 }, 128);
  fs.rmSync(path.join(dir, 'weights', 'best.ckpt'));
  await assert.rejects(
    evaluateRun(dir, { limit: 50 }),
    (e: unknown) => e instanceof UserError && /no best checkpoint/.test(e.message) && /`weights` last/.test(e.message),
  );
  await assert.rejects(evaluateRun(dir, { weights: 'last', limit: 5, count: 10 }), /`count` 10 is more than the 5 images/);
});

test('the CLI: ae test and the reference-style -m test print the loss and the output paths', async () => {
  const dir = await trainedRun({ epochs: 1 }, 128);
  const r = runCli(['test', dir, '--embed', 'pca', '--limit', '200', '--count', '3']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /test loss \(MSE\): 0\.\d+/);
  assert.match(r.stdout, /latent_pca\.png/);
  const cfgFile = path.join(dir, 'config.yaml');
  const ref = runCli(['-m', 'test', '--config', cfgFile, '--embed', 'pca', '--limit', '100', '--split', 'validation']);
  assert.equal(ref.status, 0, ref.stderr);
  assert.match(ref.stdout, /validation loss \(MSE\)/);
  // Every path either command printed exists, and the ones it promises are among them.
  for (const out of [r.stdout, ref.stdout]) {
    const printed = [...out.matchAll(/(\/\S+\.(?:png|json|bin))/g)].map((m) => m[1]!);
    for (const name of ['reconstructions.png', 'latent_pca.png', 'metrics.json'])
      assert.ok(
        printed.some((p) => path.basename(p) === name),
        `${name} printed in:\n${out}`,
      );
    for (const p of printed) assert.ok(fs.existsSync(p), `${p} exists`);
  }
});

test('too few points for t-SNE is a clear UserError from the worker thread, not a crash', async () => {
  const dir = await trainedRun({ epochs: 1 }, 128);
  await assert.rejects(
    evaluateRun(dir, { limit: 3, count: 3 }),
    (e: unknown) =>
      e instanceof UserError && /t-SNE needs at least 4 points to map, got 3/.test(e.message) && /`embed` pca/.test(e.message),
  );
  await assert.rejects(evaluateRun(dir, { limit: 0 }), /`limit` 0 leaves nothing to evaluate/);
});
