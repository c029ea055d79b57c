/**
 * The new model types: the VAE objective against a direct computation, the reparameterisation gradient, seeded
 * sampling, exact resume with KL warm-up, the bottlenecked CAE's training, and the config's refusals.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { initBackend, tf } from '../src/backend/index.js';
import { type HistoryRow, readCheckpoint } from '../src/checkpoint/checkpoint.js';
import { resolveConfig } from '../src/config/load.js';
import { batchTensor, head } from '../src/data/dataset.js';
import { binarizeSplits } from '../src/data/load.js';
import { importanceSampledNll } from '../src/evaluate/likelihood.js';
import { createModel, isVariational } from '../src/models/registry.js';
import { gaussianKl, klWeightAt, objective, reparameterise, standardNormal } from '../src/models/objective.js';
import { TrainingInterrupted } from '../src/errors.js';
import { resume, train } from '../src/train/trainer.js';
import { latentPlaneCodes, normalQuantile, sample } from '../src/use/sample.js';
import { deriveSeed } from '../src/util/rng.js';
import { MNIST_DIR, smallMnist, tempDir } from './helpers.js';

test.before(() => initBackend('wasm'));

function config(over: Record<string, unknown>) {
  return resolveConfig({ project: tempDir('ae-vae-'), name: 'run', epochs: 1, batch_size: 32, MNIST: { path: MNIST_DIR }, ...over });
}

test('KL of a known Gaussian: KL(N(m, s^2) || N(0, 1)) = 0.5 * sum(s^2 + m^2 - 1 - log s^2)', () => {
  const mean = [
    [1, -2, 0],
    [0, 0, 0],
  ];
  const variance = [
    [0.5, 4, 1],
    [1, 1, 1],
  ];
  const kl = tf.tidy(() => gaussianKl(tf.tensor2d(mean), tf.log(tf.tensor2d(variance)) as tf.Tensor2D).arraySync()) as number[];
  const expected = mean.map((m, r) => m.reduce((s, mj, j) => s + 0.5 * (variance[r]![j]! + mj * mj - 1 - Math.log(variance[r]![j]!)), 0));
  assert.ok(Math.abs(kl[0]! - expected[0]!) < 1e-5, `${kl[0]} vs ${expected[0]}`);
  assert.ok(Math.abs(kl[1]!) < 1e-7, 'the prior itself is at KL 0');
});

test('reparameterisation: z = m + exp(logVar / 2) * eps, and its gradients are d/dm = dz, d/dlogVar = dz * s * eps / 2', () => {
  const seed = 11;
  const m = tf.tensor2d([[0.3, -1.2, 2]]);
  const lv = tf.tensor2d([[0.1, -0.7, 0.4]]);
  const eps = standardNormal([1, 3], seed).arraySync()[0]!;
  const z = reparameterise(m, lv, seed).arraySync()[0]!;
  const mv = [0.3, -1.2, 2];
  const lvv = [0.1, -0.7, 0.4];
  z.forEach((zj, j) => {
    assert.ok(Math.abs(zj - (mv[j]! + Math.exp(lvv[j]! / 2) * eps[j]!)) < 1e-6);
  });
  // f(z) = sum z^2: df/dm = 2z, df/dlogVar = 2z * exp(logVar / 2) * eps / 2.
  const [gm, glv] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(reparameterise(a as tf.Tensor2D, b as tf.Tensor2D, seed))))([
    m,
    lv,
  ]);
  const gmv = gm!.arraySync() as number[][];
  const glvv = glv!.arraySync() as number[][];
  z.forEach((zj, j) => {
    assert.ok(Math.abs(gmv[0]![j]! - 2 * zj) < 1e-5);
    assert.ok(Math.abs(glvv[0]![j]! - zj * Math.exp(lvv[j]! / 2) * eps[j]!) < 1e-5);
  });
  tf.dispose([m, lv, gm!, glv!]);
});

test('the VAE objective equals a direct computation on a small batch (BCE summed per image, KL, beta)', async () => {
  const data = await smallMnist(8, 8);
  for (const model_type of ['VAE', 'ConvVAE'] as const) {
    const cfg = config({ model_type, latent_dim: 4, hidden_dim: 32, seed: 3 });
    const model = createModel(cfg);
    assert.ok(isVariational(model));
    const beta = 2.5;
    const seed = 99;
    const ctx = { training: false, seed: 0 };
    const x = batchTensor(data.train, null, 0, 8);
    const parts = objective(model, x, x, ctx, 'bce', beta, seed);
    const got = { total: parts.total.dataSync()[0]!, recon: parts.recon.dataSync()[0]!, kl: parts.kl!.dataSync()[0]! };
    // By hand, from the model's pieces and the same noise.
    const { mean, logVar } = model.encodeDistribution(x, ctx);
    const m = mean.arraySync();
    const lv = logVar.arraySync();
    const eps = standardNormal([8, 4], deriveSeed(seed, 'reparameterise')).arraySync();
    const z = m.map((row, i) => row.map((mj, j) => mj + Math.exp(lv[i]![j]! / 2) * eps[i]![j]!));
    const recon = model.decode(tf.tensor2d(z), ctx).dataSync();
    const pixels = x.dataSync();
    let bce = 0;
    for (let i = 0; i < pixels.length; i++) {
      const p = Math.min(1 - 1e-7, Math.max(1e-7, recon[i]!));
      bce -= pixels[i]! * Math.log(p) + (1 - pixels[i]!) * Math.log(1 - p);
    }
    bce /= 8;
    let kl = 0;
    m.forEach((row, i) => {
      row.forEach((mj, j) => {
        kl += -0.5 * (1 + lv[i]![j]! - mj * mj - Math.exp(lv[i]![j]!));
      });
    });
    kl /= 8;
    assert.ok(Math.abs(got.recon - bce) / bce < 1e-4, `${model_type} reconstruction ${got.recon} vs ${bce}`);
    assert.ok(Math.abs(got.kl - kl) < 1e-3 * Math.max(1, kl), `${model_type} KL ${got.kl} vs ${kl}`);
    assert.ok(Math.abs(got.total - (bce + beta * kl)) / got.total < 1e-4, `${model_type} total`);
    model.params.dispose();
  }
});

test('KL warm-up ramps linearly to beta over the warm-up epochs, step by step', () => {
  const cfg = config({ model_type: 'VAE', beta: 4, kl_warmup_epochs: 2 });
  assert.equal(klWeightAt(cfg, 0, 10), 4 * (1 / 20));
  assert.equal(klWeightAt(cfg, 9, 10), 4 * (10 / 20));
  assert.equal(klWeightAt(cfg, 19, 10), 4);
  assert.equal(klWeightAt(cfg, 500, 10), 4);
  assert.equal(klWeightAt(config({ model_type: 'VAE' }), 0, 10), 1);
});

test('a ConvVAE with KL warm-up resumes exactly: same weights and history (reconstruction and KL included)', async () => {
  const data = await smallMnist(256, 64);
  const over = { model_type: 'ConvVAE', latent_dim: 8, epochs: 2, batch_size: 64, kl_warmup_epochs: 1, seed: 5 };
  const project = tempDir();
  const full = await train(config({ ...over, project, name: 'full' }), { data });
  let steps = 0;
  await assert.rejects(
    train(config({ ...over, project, name: 'split' }), {
      data,
      shouldStop: () => steps === 3,
      onEvent: (e) => {
        if (e.type === 'batch') steps++;
      },
    }),
    (e: unknown) => e instanceof TrainingInterrupted,
  );
  const resumed = await resume(path.join(project, 'split'), { data });
  assert.equal(resumed.history.length, 2);
  full.history.forEach((row, i) => {
    const other = resumed.history[i]!;
    for (const key of ['train_loss', 'val_loss', 'train_recon', 'train_kl', 'val_recon', 'val_kl'] as const) {
      assert.ok(row[key] !== undefined && Number.isFinite(row[key]), `${key} recorded`);
      assert.ok(Math.abs(other[key]! - row[key]!) <= 1e-5 * Math.abs(row[key]!), `epoch ${i + 1} ${key}: ${row[key]} vs ${other[key]}`);
    }
  });
  // Epoch 1 warms the KL weight up from 0 to 1, so its loss lies between the two terms' sums; epoch 2 is at weight 1.
  const [e1, e2] = full.history as [HistoryRow, HistoryRow];
  assert.ok(e1.train_loss > e1.train_recon! && e1.train_loss < e1.train_recon! + e1.train_kl!, 'warm-up epoch');
  assert.ok(Math.abs(e2.train_loss - (e2.train_recon! + e2.train_kl!)) < 1e-3 * e2.train_loss, 'full weight epoch');
  // Validation is at the full KL weight: val_loss = val_recon + val_kl (beta 1).
  const last = full.history[1]!;
  assert.ok(Math.abs(last.val_loss - (last.val_recon! + last.val_kl!)) < 1e-3);
  const a = readCheckpoint(path.join(project, 'full', 'weights', 'last.ckpt'));
  const b = readCheckpoint(path.join(project, 'split', 'weights', 'last.ckpt'));
  const withoutTimes = (rows: HistoryRow[]) => rows.map(({ seconds: _, ...rest }) => rest);
  assert.deepEqual(withoutTimes(a.header.state.history), withoutTimes(b.header.state.history));
  full.model.params.dispose();
  resumed.model.params.dispose();
});

test('the bottlenecked CAE squeezes an image into latent_dim numbers and its loss falls', async () => {
  const data = await smallMnist(512, 128);
  const r = await train(config({ model_type: 'BottleneckCAE', latent_dim: 16, epochs: 3, batch_size: 64 }), { data });
  const model = r.model;
  const z = tf.tidy(() => model.encode(batchTensor(data.test, null, 0, 5), { training: false, seed: 0 }).shape);
  assert.deepEqual(z, [5, 16]);
  const [first, , last] = r.history;
  assert.ok(last!.val_loss < 0.75 * first!.val_loss, `validation MSE ${first!.val_loss} -> ${last!.val_loss}`);
  model.params.dispose();
});

test('ae sample: seeded draws from the prior, decoded; a 2-D latent also gets the decoded latent plane; non-VAEs are refused', async () => {
  const data = await smallMnist(256, 64);
  const cfg = config({ model_type: 'VAE', latent_dim: 2, hidden_dim: 64 });
  await train(cfg, { data });
  const dir = path.join(cfg.project, cfg.name);
  const a = await sample(dir, { count: 10, seed: 4 });
  const b = await sample(dir, { count: 10, seed: 4, outDir: tempDir() });
  const c = await sample(dir, { count: 10, seed: 5, outDir: tempDir() });
  assert.deepEqual(a.codes, b.codes);
  assert.deepEqual(a.samples, b.samples);
  assert.notDeepEqual(a.codes, c.codes);
  // The codes are the prior draws of our generator for that seed.
  assert.deepEqual(a.codes, standardNormal([10, 2], deriveSeed(4, 'sample')).dataSync());
  assert.deepEqual(
    a.files.map((f) => path.basename(f)),
    ['samples.png', 'latent_grid.png'],
  );
  const grid = await sharp(a.files[1]!).metadata();
  assert.ok(grid.width! >= 20 * 28 && grid.height! >= 20 * 28, `latent grid ${grid.width}x${grid.height}`);
  // Refuses to overwrite, and refuses models without a prior.
  await assert.rejects(sample(dir, { count: 10 }), /exists/);
  const ae = config({ model_type: 'BottleneckCAE', latent_dim: 4 });
  await train(ae, { data: await smallMnist(64, 32) });
  await assert.rejects(sample(path.join(ae.project, ae.name)), /no prior to sample from/);
  assert.ok(fs.existsSync(a.files[0]!));
});

test('the latent plane grid sits at prior quantiles: symmetric, z1 across and z2 up', () => {
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.5)) < 1e-9);
  assert.ok(Math.abs(normalQuantile(0.001) + 3.090232) < 1e-5);
  const { codes, ticks } = latentPlaneCodes(4);
  assert.ok(Math.abs(ticks[0]! + ticks[3]!) < 1e-9);
  assert.equal(codes[0], Math.fround(ticks[0]!)); // top-left: lowest z1 ...
  assert.equal(codes[1], Math.fround(ticks[3]!)); // ... highest z2
  assert.equal(codes[15 * 2], Math.fround(ticks[3]!)); // bottom-right: highest z1, lowest z2
  assert.equal(codes[15 * 2 + 1], Math.fround(ticks[0]!));
});

test('binarised images and the importance-sampled NLL: below the negative ELBO, and at k = 1 an unbiased ELBO estimate', async () => {
  const data = binarizeSplits(await smallMnist(512, 200), 0);
  const values = new Set(data.train.images);
  assert.deepEqual([...values].sort(), [0, 1]);
  const again = binarizeSplits(await smallMnist(512, 200), 0);
  assert.deepEqual(again.test.images, data.test.images, 'the binarisation is seeded');
  const cfg = config({ model_type: 'VAE', latent_dim: 8, hidden_dim: 128, epochs: 2, binarize: true });
  const r = await train(cfg, { data });
  assert.ok(isVariational(r.model));
  const set = head(data.test, 200);
  const x = batchTensor(set, null, 0, set.count);
  const parts = objective(r.model, x, x, { training: false, seed: 0 }, 'bce', 1, 1);
  const negElbo = parts.total.dataSync()[0]!;
  const nll1 = await importanceSampledNll(r.model, set, 1, 'bce', 2);
  const nll50 = await importanceSampledNll(r.model, set, 50, 'bce', 2);
  assert.ok(Math.abs(nll1 - negElbo) / negElbo < 0.03, `k = 1: ${nll1} vs -ELBO ${negElbo}`);
  assert.ok(nll50 < negElbo && nll50 > 0.7 * negElbo, `k = 50: ${nll50} vs -ELBO ${negElbo}`);
  assert.equal(await importanceSampledNll(r.model, set, 50, 'bce', 2), nll50, 'seeded');
  await assert.rejects(importanceSampledNll(r.model, set, 5, 'mse', 2), /Bernoulli decoder/);
  r.model.params.dispose();
});

test('the config refuses beta and KL warm-up on models without a KL term, and odd sizes for the convolutional models', () => {
  assert.throws(() => config({ model_type: 'AE', beta: 2 }), /beta: given 2 for model_type AE; .*VAE and ConvVAE only/);
  assert.throws(
    () => config({ model_type: 'BottleneckCAE', kl_warmup_epochs: 3 }),
    /kl_warmup_epochs: given 3 for model_type BottleneckCAE/,
  );
  assert.throws(
    () => config({ model_type: 'ConvVAE', dataset: 'folder', height: 30, width: 28, CUSTOM: { train_data_path: 'x' } }),
    /the ConvVAE halves the image twice/,
  );
  assert.throws(() => config({ model_type: 'VAE', reconstruction_loss: 'l1' }), /reconstruction_loss/);
  assert.throws(() => config({ model_type: 'VAE', beta: 0 }), /beta/);
  assert.doesNotThrow(() => config({ model_type: 'ConvVAE', beta: 4, kl_warmup_epochs: 2, reconstruction_loss: 'mse' }));
});
